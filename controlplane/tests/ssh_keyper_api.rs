//! Keyper's REST API (`/api/…`) through the admin router, in process, as a Keyper admin and
//! with API keys: login and tokens, users/hosts/groups in the seed's shapes, 409 and 400
//! answers, API keys with the `ssh` permissions, the CA keys and the KRL. What a Keyper user
//! may do, refresh, failed and locked logins: `ssh_keyper_auth.rs`.

#[path = "support/kes_router.rs"]
mod kes_router;
#[path = "support/keyper.rs"]
mod keyper;

use axum::http::StatusCode;
use kes_router::{call, cp};
use keyper::{anonymous, bootstrap, claims, fresh_key, group_dn, login, new_user, BASE, PASSWORD};
use serde_json::json;
use sigil_controlplane::services::api_keys::NewApiKey;
use sigil_ssh::{CertInfo, Krl, ParsedKey};

/// Keyper's example key and fingerprint (the seed's `POST /users`).
const SEED_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1KtJpPn6W9W5WgPU8+eYuuSKKyHA+Z62mVLYp50Ch/MMTUSxcFF/V1H81CStU4OrPv/pUxpHtqSDeTCMbVtTmP0Bbc5V7rCYQVgfhTB7CzKAwnfJSfJGY/JoJLCrC4kt40PMwyXTHiPUkrs4tOHiv7GIT4aZI/wmVPrg8x6oBFRgfCl1TQVgeSQl2kAnjkUHEsq2CsnZR9mKIJ31CWzeHLotYHNg82jmgylCWUsl6Pd5eigObUtk0j6Vnjn7FUKwSmffhEPInU1K+IzYMdFe1QElTSO7X+IOjedQZ2Y8nt3U9N9WPyd7FK13Sn8Ij22CIMmTuvfNXv/H4ja9vF0Ob";
const SEED_FP: &str = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20";

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
