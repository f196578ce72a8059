//! Keyper's REST API (`/api/…`) through the admin router, in process: bootstrapping the first
//! Keyper admin with Sigil's admin token, login and tokens, users/hosts/groups in the seed's
//! shapes, what a non-admin Keyper user may do, refresh, audited login failures, 409 and
//! 400 answers, API keys with the `ssh` permissions, the CA keys and the KRL.

#[path = "support/kes_router.rs"]
mod kes_router;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use kes_router::{call, cp, send, Cp, Reply, ADMIN};
use serde_json::{json, Value};
use sigil_controlplane::services::api_keys::NewApiKey;
use sigil_ssh::{CaAlgorithm, CertInfo, Krl, ParsedKey, SoftwareCa};

const BASE: &str = "dc=sigil,dc=local";
const PASSWORD: &str = "s3cret-enough";
/// Keyper's example key and fingerprint (the seed's `POST /users`).
const SEED_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1KtJpPn6W9W5WgPU8+eYuuSKKyHA+Z62mVLYp50Ch/MMTUSxcFF/V1H81CStU4OrPv/pUxpHtqSDeTCMbVtTmP0Bbc5V7rCYQVgfhTB7CzKAwnfJSfJGY/JoJLCrC4kt40PMwyXTHiPUkrs4tOHiv7GIT4aZI/wmVPrg8x6oBFRgfCl1TQVgeSQl2kAnjkUHEsq2CsnZR9mKIJ31CWzeHLotYHNg82jmgylCWUsl6Pd5eigObUtk0j6Vnjn7FUKwSmffhEPInU1K+IzYMdFe1QElTSO7X+IOjedQZ2Y8nt3U9N9WPyd7FK13Sn8Ij22CIMmTuvfNXv/H4ja9vF0Ob";
const SEED_FP: &str = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20";

fn group_dn(g: &str) -> String {
    format!("cn={g},ou=groups,{BASE}")
}

fn fresh_key() -> String {
    SoftwareCa::generate(CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh()
}

/// A request without credentials.
async fn anonymous(cp: &Cp, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(cp, req.body(body).unwrap()).await
}

async fn login(cp: &Cp, user: &str, password: &str) -> Reply {
    anonymous(
        cp,
        "POST",
        "/api/login",
        Some(json!({"username": user, "password": password})),
    )
    .await
}

/// The claims of a JWT (unchecked).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn new_user(name: &str, groups: &[&str]) -> Value {
    json!({
        "cn": name, "userPassword": PASSWORD, "confirmPassword": PASSWORD,
        "givenName": name, "sn": "Parker", "displayName": format!("{name} Parker"),
        "mail": format!("{name}@example.org"), "accountLocked": "false",
        "memberOfs": groups.iter().map(|g| group_dn(g)).collect::<Vec<_>>(),
    })
}

/// Sigil's admin token makes the groups and the first Keyper admin; returns the admin's
/// access token.
async fn bootstrap(cp: &Cp) -> String {
    for g in ["demo_servers", "AllHosts"] {
        let r = call(
            cp,
            "POST",
            "/api/groups",
            ADMIN,
            Some(json!({"cn": g, "description": g})),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = call(
        cp,
        "POST",
        "/api/users",
        ADMIN,
        Some(new_user("admin", &["KeyperAdmins"])),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = login(cp, "admin", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn keyper_admin_manages_users_in_keypers_shapes() {
    let cp = cp();
    let token = bootstrap(&cp).await;

    // The login answer: tokens and the user, as Keyper's.
    let r = login(&cp, "admin", PASSWORD).await;
    let body = r.json();
    for field in [
        "access_token",
        "refresh_token",
        "accountLocked",
        "cn",
        "dn",
        "givenName",
        "memberOfs",
        "sn",
        "uid",
        "displayName",
        "mail",
    ] {
        assert!(body.get(field).is_some(), "{field} missing: {body}");
    }
    assert_eq!(body["dn"], format!("cn=admin,ou=people,{BASE}"));
    assert_eq!(body["memberOfs"], json!([group_dn("KeyperAdmins")]));
    assert_eq!(body["accountLocked"], false);
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (
            c["type"].as_str(),
            c["identity"].as_str(),
            c["sub"].as_str()
        ),
        (Some("access"), Some("admin"), Some("admin"))
    );
    assert_eq!(c["user_claims"], "{role: keyper_admin}");
    assert_eq!(c["fresh"], false);
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() == 900);
    assert_eq!(
        claims(body["refresh_token"].as_str().unwrap())["type"],
        "refresh"
    );
    assert!(!r
        .body
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes()));

    // POST /users with the seed's key (and its fingerprint) and a key to certify.
    let certified = fresh_key();
    let mut judy = new_user("judy", &["demo_servers"]);
    judy["principal"] = json!("judy,deploy");
    judy["sshPublicKeys"] = json!([{
        "name": "demo", "dateExpire": "20301204", "hostGroups": [group_dn("demo_servers")],
        "key": SEED_KEY, "fingerprint": SEED_FP,
    }]);
    judy["sshPublicCerts"] =
        json!([{"name": "laptop", "key": certified, "hostGroups": [group_dn("demo_servers")]}]);
    let r = call(&cp, "POST", "/api/users", &token, Some(judy.clone())).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.seq(), cp.services.replication.head());
    let created = r.json();
    assert_eq!(
        created.as_array().map(Vec::len),
        Some(1),
        "a one-element list"
    );
    let u = &created[0];
    assert_eq!(u["cn"], "judy");
    assert_eq!(u["uid"], "judy");
    assert_eq!(u["dn"], format!("cn=judy,ou=people,{BASE}"));
    assert_eq!(u["displayName"], "judy Parker");
    assert_eq!(u["memberOfs"], json!([group_dn("demo_servers")]));
    let key = &u["sshPublicKeys"][0];
    assert_eq!(key["key"], SEED_KEY);
    assert_eq!(key["name"], "demo");
    assert_eq!(key["fingerprint"], SEED_FP);
    assert_eq!(key["dateExpire"], "20301204");
    assert_eq!(key["hostGroups"], json!([group_dn("demo_servers")]));
    assert!(key["keyid"].is_string());
    let cert = &u["sshPublicCerts"][0];
    let info = CertInfo::parse(cert["cert"].as_str().unwrap()).unwrap();
    assert_eq!(info.principals, ["judy", "deploy"]);
    assert_eq!(Some(info.serial), cert["serial"].as_u64());
    assert_eq!(cert["key"], certified.as_str());
    assert!(
        !r.body.windows(8).any(|w| w == b"password"),
        "no password field shown"
    );

    // GET one: a one-element list, the same user.
    let r = call(&cp, "GET", "/api/users/judy", &token, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), created);
    let all = call(&cp, "GET", "/api/users", &token, None).await.json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["cn"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "judy"]);

    // 409 for a duplicate name, 400 for an unknown group or a wrong fingerprint.
    let r = call(&cp, "POST", "/api/users", &token, Some(judy.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"], "conflict");
    let r = call(
        &cp,
        "POST",
        "/api/users",
        &token,
        Some(new_user("erin", &["nope"])),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("unknown group"));
    let mut bad = new_user("erin", &[]);
    bad["sshPublicKeys"] = json!([{"key": fresh_key(), "fingerprint": SEED_FP, "hostGroups": []}]);
    assert_eq!(
        call(&cp, "POST", "/api/users", &token, Some(bad))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // PUT as in the seed: mail, groups (sorted), a new key; the seed's key again is 409.
    let krl_before = Krl::decode(&anonymous(&cp, "GET", "/api/krlca", None).await.body).unwrap();
    let second = fresh_key();
    let update = json!({
        "mail": "judy.parker@example.org",
        "memberOfs": [group_dn("KeyperAdmins"), group_dn("AllHosts")],
        "sshPublicKeys": [{"name": "demo2", "dateExpire": "20301204", "hostGroups": [group_dn("AllHosts")], "key": second}],
    });
    let r = call(&cp, "PUT", "/api/users/judy", &token, Some(update)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let u = &r.json()[0];
    assert_eq!(u["mail"], "judy.parker@example.org");
    assert_eq!(
        u["memberOfs"],
        json!([group_dn("AllHosts"), group_dn("KeyperAdmins")])
    );
    assert_eq!(u["sshPublicKeys"].as_array().unwrap().len(), 2);
    let again = json!({"sshPublicKeys": [{"key": SEED_KEY, "hostGroups": []}]});
    assert_eq!(
        call(&cp, "PUT", "/api/users/judy", &token, Some(again))
            .await
            .status,
        StatusCode::CONFLICT
    );

    // Revoking the seed key by keyid puts it in the KRL (a higher version).
    let keyid = key["keyid"].as_str().unwrap();
    let r = call(
        &cp,
        "PUT",
        "/api/users/judy",
        &token,
        Some(json!({"sshPublicKeys": [{"keyid": keyid}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let krl = anonymous(&cp, "GET", "/api/krlca", None).await;
    assert_eq!(krl.headers["content-type"], "application/octet-stream");
    let krl = Krl::decode(&krl.body).unwrap();
    assert!(krl.version > krl_before.version);
    assert!(krl.revokes_key(&ParsedKey::parse(SEED_KEY).unwrap().sha256));

    // DELETE answers Keyper's text; the certificate's serial joins the KRL.
    let r = call(&cp, "DELETE", "/api/users/judy", &token, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!("Deleted User: judy"));
    assert_eq!(r.seq(), cp.services.replication.head());
    let krl = Krl::decode(&anonymous(&cp, "GET", "/api/krlca", None).await.body).unwrap();
    let ca = anonymous(&cp, "GET", "/api/userca", None).await;
    assert_eq!(ca.headers["content-type"], "text/plain; charset=utf-8");
    let ca_line = String::from_utf8(ca.body).unwrap();
    assert_eq!(ca_line.lines().count(), 1);
    let ca_key = ParsedKey::parse(ca_line.trim_end()).unwrap();
    assert!(krl.revokes_serial(&ca_key.blob, info.serial));
    assert_eq!(info.ca_blob, ca_key.blob);
    assert_eq!(
        call(&cp, "GET", "/api/users/judy", &token, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let host_ca =
        String::from_utf8(anonymous(&cp, "POST", "/api/hostca", None).await.body).unwrap();
    assert!(host_ca.ends_with(" sigil-host-ca\n"), "{host_ca}");
}

#[tokio::test]
async fn a_keyper_user_reads_and_changes_only_themselves() {
    let cp = cp();
    let admin = bootstrap(&cp).await;
    for name in ["alice", "bob"] {
        let r = call(
            &cp,
            "POST",
            "/api/users",
            &admin,
            Some(new_user(name, &["demo_servers"])),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = login(&cp, "alice", PASSWORD).await;
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["user_claims"],
        "{role: keyper_user}"
    );
    let alice = r.json()["access_token"].as_str().unwrap().to_string();

    assert_eq!(
        call(&cp, "GET", "/api/users/alice", &alice, None)
            .await
            .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        ("GET", "/api/users/bob", None),
        ("GET", "/api/users", None),
        ("PUT", "/api/users/bob", Some(json!({"mail": "x@y"}))),
        ("DELETE", "/api/users/alice", None),
        ("POST", "/api/users", Some(new_user("mallory", &[]))),
        ("GET", "/api/hosts", None),
        ("POST", "/api/groups", Some(json!({"cn": "mine"}))),
        ("GET", "/api/v1/issuers", None),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"memberOfs": [group_dn("KeyperAdmins")]})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"accountLocked": true})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(json!({"principal": "root"})),
        ),
        (
            "PUT",
            "/api/users/alice",
            Some(
                json!({"sshPublicKeys": [{"key": fresh_key(), "hostGroups": [group_dn("AllHosts")]}]}),
            ),
        ),
    ] {
        let r = call(&cp, method, path, &alice, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Her own key (in her own group), certificate and password: yes.
    let mine = json!({
        "sshPublicKeys": [{"name": "laptop", "key": fresh_key(), "hostGroups": [group_dn("demo_servers")]}],
        "sshPublicCerts": [{"name": "cert", "key": fresh_key(), "hostGroups": [group_dn("demo_servers")]}],
    });
    let r = call(&cp, "PUT", "/api/users/alice", &alice, Some(mine)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()[0]["sshPublicKeys"].as_array().unwrap().len(), 1);
    let pw = json!({"userPassword": "another-secret", "confirmPassword": "another-secret"});
    assert_eq!(
        call(&cp, "PUT", "/api/users/alice", &alice, Some(pw))
            .await
            .status,
        StatusCode::OK
    );
    // The password change ended the session; the new password works.
    assert_eq!(
        call(&cp, "GET", "/api/users/alice", &alice, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&cp, "alice", "another-secret").await.status,
        StatusCode::OK
    );

    // The actions were audited as the Keyper user.
    let audit = call(
        &cp,
        "GET",
        "/api/v1/audit?action=ssh.user.update",
        ADMIN,
        None,
    )
    .await
    .json();
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "keyper:alice"),
        "{audit}"
    );
}

#[tokio::test]
async fn refresh_wrong_passwords_and_locked_accounts() {
    let cp = cp();
    let admin = bootstrap(&cp).await;
    let r = login(&cp, "admin", PASSWORD).await.json();
    let refresh = r["refresh_token"].as_str().unwrap();

    let req = |token: Option<&str>| {
        let b = Request::builder().method("POST").uri("/api/refresh");
        let b = match token {
            Some(t) => b.header("authorization", format!("Bearer {t}")),
            None => b,
        };
        b.body(Body::empty()).unwrap()
    };
    let r = send(&cp, req(Some(refresh))).await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&fresh)["type"], "access");
    assert_eq!(
        call(&cp, "GET", "/api/users", &fresh, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&cp, req(Some(&admin))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(&cp, req(None)).await.status, StatusCode::UNAUTHORIZED);
    // A refresh token is not an access token.
    assert_eq!(
        call(&cp, "GET", "/api/users", refresh, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Wrong password: 401 with the generic text, audited with the claimed user.
    let r = login(&cp, "admin", "not-the-password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json(),
        json!({"error": "unauthorized", "message": "Bad username or password"})
    );
    assert_eq!(
        login(&cp, "ghost", "not-the-password").await.json(),
        r.json()
    );
    let audit = call(&cp, "GET", "/api/v1/audit?action=ssh.login", ADMIN, None)
        .await
        .json();
    let failed: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .collect();
    assert_eq!(failed.len(), 2, "{audit}");
    assert!(failed
        .iter()
        .any(|e| e["actor"] == "keyper:admin" && e["details"]["reason"] == "password"));
    assert!(!audit.to_string().contains("not-the-password"));
    let failures = call(&cp, "GET", "/api/v1/audit?action=auth.failure", ADMIN, None)
        .await
        .json();
    let on_refresh = failures["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_id"] == "/api/refresh")
        .count();
    assert_eq!(on_refresh, 2, "{failures}");

    // A locked account: no login, and its tokens stop working.
    let r = call(
        &cp,
        "POST",
        "/api/users",
        &admin,
        Some(new_user("carol", &[])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let carol = login(&cp, "carol", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &cp,
        "PUT",
        "/api/users/carol",
        &admin,
        Some(json!({"accountLocked": "True"})),
    )
    .await;
    assert_eq!(r.json()[0]["accountLocked"], true);
    assert_eq!(
        login(&cp, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&cp, "GET", "/api/users/carol", &carol, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A forged token (signed with another key) is refused.
    let mut parts: Vec<String> = carol.split('.').map(str::to_string).collect();
    parts[2] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 32]);
    assert_eq!(
        call(&cp, "GET", "/api/users", &parts.join("."), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn hosts_groups_and_api_keys() {
    let cp = cp();
    let admin = bootstrap(&cp).await;
    let host_key = fresh_key();
    let r = call(
        &cp,
        "POST",
        "/api/hosts",
        &admin,
        Some(
            json!({"cn": "mavrix1", "description": "mavrix1", "memberOfs": [group_dn("AllHosts")],
                    "sshPublicCerts": [{"name": "host", "key": host_key}]}),
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let h = r.json();
    assert_eq!(h["cn"], "mavrix1");
    assert_eq!(h["description"], "mavrix1");
    assert_eq!(h["dn"], format!("cn=mavrix1,ou=Hosts,{BASE}"));
    assert_eq!(
        h["memberOfs"],
        json!([group_dn("AllHosts"), group_dn("mavrix1")])
    );
    let info = CertInfo::parse(h["sshPublicCerts"][0]["cert"].as_str().unwrap()).unwrap();
    assert_eq!(info.principals, ["mavrix1"]);
    let r = call(&cp, "GET", "/api/hosts/mavrix1", &admin, None).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    let r = call(
        &cp,
        "PUT",
        "/api/hosts/mavrix1",
        &admin,
        Some(json!({"description": "updated description for mavrix1"})),
    )
    .await;
    assert_eq!(r.json()["description"], "updated description for mavrix1");
    assert_eq!(
        call(
            &cp,
            "POST",
            "/api/hosts",
            &admin,
            Some(json!({"cn": "mavrix1"}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    // Groups: members are user and host DNs.
    let r = call(
        &cp,
        "POST",
        "/api/groups",
        &admin,
        Some(json!({"cn": "dev_servers", "description": "dev_servers",
                    "members": [format!("cn=mavrix1,ou=Hosts,{BASE}"), format!("cn=admin,ou=people,{BASE}")]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json()["members"],
        json!([
            format!("cn=admin,ou=people,{BASE}"),
            format!("cn=mavrix1,ou=Hosts,{BASE}")
        ])
    );
    let r = call(&cp, "GET", "/api/groups/dev_servers", &admin, None)
        .await
        .json();
    assert_eq!(r[0]["dn"], group_dn("dev_servers"));
    let r = call(
        &cp,
        "POST",
        "/api/groups",
        &admin,
        Some(json!({"cn": "x", "members": ["cn=ghost,ou=people,dc=sigil,dc=local"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        call(&cp, "DELETE", "/api/groups/KeyperAdmins", &admin, None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    let r = call(&cp, "DELETE", "/api/groups/dev_servers", &admin, None).await;
    assert_eq!(r.json(), json!("Deleted group: dev_servers"));
    let r = call(&cp, "DELETE", "/api/hosts/mavrix1", &admin, None).await;
    assert_eq!(r.json(), json!("Deleted host: mavrix1"));
    let groups = call(&cp, "GET", "/api/groups", &admin, None).await.json();
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cn"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["AllHosts", "KeyperAdmins", "demo_servers"],
        "the host's group went with it"
    );

    // API keys: a viewer reads, an operator writes; a Keyper admin token stays in /api/.
    let key = |role: &str| {
        cp.services
            .api_keys
            .create_api_key(NewApiKey {
                name: role.into(),
                role: role.into(),
                ..NewApiKey::default()
            })
            .unwrap()
            .1
    };
    let (viewer, operator) = (key("viewer"), key("operator"));
    assert_eq!(
        call(&cp, "GET", "/api/users", &viewer, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &cp,
            "POST",
            "/api/groups",
            &viewer,
            Some(json!({"cn": "v"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &cp,
            "POST",
            "/api/groups",
            &operator,
            Some(json!({"cn": "o"}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&cp, "DELETE", "/api/groups/o", &operator, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&cp, "GET", "/api/v1/certificates", &admin, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anonymous(&cp, "GET", "/api/users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
