//! kipuka's OTP lifecycle on a real control plane: `POST /admin/otp` (secret shown once),
//! `GET /admin/otp` (active only, no secret), `DELETE /admin/otp/:id`, JSON errors, audit.

use serde_json::{json, Value};
use sigil_tests::ControlPlane;

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    // On PostgreSQL the data directory may hold nothing at all.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            files_contain(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[test]
fn otp_lifecycle_matches_kipuka() {
    let mut cp = ControlPlane::start();
    let (status, created) = cp.api(
        "POST",
        "/admin/otp",
        Some(&json!({"entity_id": "device-001.example.com", "ttl": 7200, "max_uses": 1})),
    );
    assert_eq!(status, 201, "{created}");
    println!("POST /admin/otp → {created:#}");
    for f in ["id", "entity_id", "otp", "created", "expires"] {
        assert!(created[f].is_string(), "{f} in {created}");
    }
    assert_eq!(created["max_uses"], 1);
    assert_eq!(created["remaining_uses"], 1);
    let otp = created["otp"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "UUID");

    let (status, defaults) = cp.api(
        "POST",
        "/admin/otp",
        Some(&json!({"entity_id": "device-002"})),
    );
    assert_eq!(status, 201);
    assert_eq!(defaults["max_uses"], 1);
    let span = |v: &Value| {
        let p = |f: &str| sigil_tests_time(v[f].as_str().unwrap());
        p("expires") - p("created")
    };
    assert_eq!(span(&defaults), 3600, "default ttl");

    let (status, list) = cp.api("GET", "/admin/otp", None);
    assert_eq!(status, 200);
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter().all(|o| o.get("otp").is_none()),
        "secret listed: {list:?}"
    );
    let mut entities: Vec<&str> = list
        .iter()
        .map(|o| o["entity_id"].as_str().unwrap())
        .collect();
    entities.sort_unstable();
    assert_eq!(entities, ["device-001.example.com", "device-002"]);

    assert_eq!(cp.api("DELETE", &format!("/admin/otp/{id}"), None).0, 204);
    let (status, err) = cp.api("DELETE", &format!("/admin/otp/{id}"), None);
    assert_eq!(status, 404);
    assert_eq!(err["error"], "not_found", "{err}");
    assert!(err["message"].is_string());
    let (_, list) = cp.api("GET", "/admin/otp", None);
    assert_eq!(list.as_array().unwrap().len(), 1);

    for bad in [
        json!({}),
        json!({"entity_id": "x", "ttl": 0}),
        json!({"entity_id": "x", "max_uses": 0}),
        json!({"entity_id": "x", "extra": 1}),
    ] {
        let (status, err) = cp.api("POST", "/admin/otp", Some(&bad));
        assert_eq!(status, 400, "{bad} → {err}");
        assert_eq!(err["error"], "bad_request");
    }
    let r = cp.request("GET", "/admin/otp", None, None, None);
    assert_eq!(r.status, 401);

    let (_, audit) = cp.api("GET", "/api/v1/audit?resource_type=otp", None);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["otp.create", "otp.create", "otp.delete"]);
    // The secret is nowhere on disk, only its salted hash.
    cp.kill9();
    assert!(
        !cp.state_dirs()
            .iter()
            .any(|d| files_contain(d, otp.as_bytes())),
        "OTP secret found in the data dir"
    );
}

/// Unix seconds of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SSZ`.
fn sigil_tests_time(s: &str) -> i64 {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    sigil_shared::time::parse_generalized_time(format!("{digits}Z").as_bytes()).expect("RFC 3339")
}
