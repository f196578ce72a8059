//! Failed admin authentication is limited per source address and audited within a budget
//! (`[admin.auth_limit]`), on a real control plane over https, with curl: a source that
//! failed too often gets 429 with the API's JSON error and `Retry-After` — even with the right
//! token — while another source (curl `--interface 127.0.0.2`) and a client with a trusted
//! certificate are served; after `Retry-After` the first source is served again. Keyper logins
//! and the replication token count too. Only the first failures of each window are audited one
//! by one, the rest in one `auth.failure.summary` record.

use std::time::Duration;

use serde_json::Value;
use sigil_tests::tls::{Curl, TlsFiles};
use sigil_tests::{new_tempdir, ControlPlane, ADMIN_TOKEN};

const CONFIG: &str = "[admin.auth_limit]\nfailures_per_source = 4\nrefill_secs = 3\n\
                      audit_window_secs = 2\naudit_per_source = 2\naudit_max = 50\n";

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

fn get(cp: &ControlPlane, token: &str, from: &str) -> Curl {
    let h = bearer(token);
    cp.curl("/api/v1/issuers", &["--interface", from, "-H", &h])
}

fn retry_after(c: &Curl) -> u64 {
    c.headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("retry-after")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Retry-After in {}", c.headers))
}

fn audit(cp: &ControlPlane, action: &str) -> Vec<Value> {
    let h = bearer(ADMIN_TOKEN);
    let filter = if action.is_empty() {
        String::new()
    } else {
        format!("action={action}&")
    };
    let path = format!("/api/v1/audit?{filter}per_page=500");
    let c = cp.curl(&path, &["--interface", "127.0.0.3", "-H", &h]);
    assert_eq!(c.status, "200", "{}", String::from_utf8_lossy(&c.body));
    c.json()["data"].as_array().expect("data").clone()
}

fn assert_limited(c: &Curl, what: &str) -> u64 {
    assert_eq!(
        c.status,
        "429",
        "{what}: {}",
        String::from_utf8_lossy(&c.body)
    );
    assert_eq!(c.json()["error"], "too_many_requests", "{what}");
    assert!(c.json()["message"].is_string(), "{what}");
    let secs = retry_after(c);
    assert!((1..=3).contains(&secs), "{what}: Retry-After {secs}");
    secs
}

#[test]
fn failed_admin_authentication_is_limited_per_source_and_audited_within_bounds() {
    let dir = new_tempdir();
    let files = TlsFiles::generate(&dir.path().join("tls"));
    let cp = ControlPlane::start_tls(CONFIG, &files);

    // Four failures from 127.0.0.1 (wrong token, then none): 401 each.
    for i in 0..4 {
        let c = if i < 3 {
            get(&cp, "wrong-token", "127.0.0.1")
        } else {
            cp.curl("/api/v1/issuers", &["--interface", "127.0.0.1"])
        };
        assert_eq!(c.status, "401", "failure {i}");
    }
    // The bucket is empty: refused before the credentials are looked at.
    assert_limited(&get(&cp, "wrong-token", "127.0.0.1"), "fifth failure");
    assert_limited(
        &get(&cp, ADMIN_TOKEN, "127.0.0.1"),
        "right token, same source",
    );
    // Another source is not limited, failing or not.
    assert_eq!(get(&cp, ADMIN_TOKEN, "127.0.0.2").status, "200");
    assert_eq!(get(&cp, "wrong-token", "127.0.0.2").status, "401");
    // A trusted client certificate authenticates by itself: never refused.
    let cert = cp.curl(
        "/api/v1/issuers",
        &[
            "--interface",
            "127.0.0.1",
            "--cert",
            files.client_cert.to_str().unwrap(),
            "--key",
            files.client_key.to_str().unwrap(),
        ],
    );
    assert_eq!(cert.status, "200", "mTLS from the limited source");
    // Keyper logins and the replication token count against the same source's limit.
    let login = cp.curl(
        "/api/login",
        &[
            "--interface",
            "127.0.0.1",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"username":"nobody","password":"wrong-password"}"#,
        ],
    );
    let secs = assert_limited(&login, "Keyper login");
    let h = bearer("wrong-replication-token");
    let stream = cp.curl(
        "/api/v1/replication/stream",
        &["--interface", "127.0.0.1", "-H", &h],
    );
    assert_limited(&stream, "replication stream");

    // After Retry-After the source is served again; one more failure spends the new token.
    std::thread::sleep(Duration::from_secs(secs));
    assert_eq!(
        get(&cp, ADMIN_TOKEN, "127.0.0.1").status,
        "200",
        "after Retry-After"
    );
    std::thread::sleep(Duration::from_secs(3));
    let c = cp.curl(
        "/api/login",
        &[
            "--interface",
            "127.0.0.1",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"username":"nobody","password":"wrong-password"}"#,
        ],
    );
    assert_eq!(c.status, "401", "a failed login after the refill");

    // Audited one by one: at most audit_per_source events of 127.0.0.1 per window (the
    // window may have rolled during the test: at most two windows' worth here).
    let failures = audit(&cp, "auth.failure");
    let from = |a: &str| {
        failures
            .iter()
            .filter(|e| e["source"].as_str().is_some_and(|s| s.starts_with(a)))
            .count()
    };
    assert!(
        (2..=4).contains(&from("127.0.0.1:")),
        "auth.failure from 127.0.0.1: {failures:#?}"
    );
    assert_eq!(from("127.0.0.2:"), 1, "{failures:#?}");
    // The rest went into a summary once the window ended.
    std::thread::sleep(Duration::from_secs(3));
    let summaries = audit(&cp, "auth.failure.summary");
    assert!(!summaries.is_empty(), "no summary: {:#?}", audit(&cp, ""));
    let counted: u64 = summaries
        .iter()
        .map(|s| {
            s["details"]["failures"].as_u64().unwrap() + s["details"]["refused"].as_u64().unwrap()
        })
        .sum();
    assert!(counted >= 2, "{summaries:#?}");
    let top = &summaries[0]["details"]["top"];
    assert!(
        top.to_string().contains("127.0.0.1"),
        "the summary names the source: {summaries:#?}"
    );
    let verify = cp.curl(
        "/api/v1/audit/verify",
        &["--interface", "127.0.0.3", "-H", &bearer(ADMIN_TOKEN)],
    );
    assert_eq!(verify.json()["valid"], true, "{}", verify.json());
}
