//! The KES-compatible key service's API end to end: a real `sigil-cp` (source of truth, KEK
//! from the environment) and two real `sigil-dp`s (`[kes]` listener, KEK from a 0600 file),
//! driven with `curl` over mutual TLS: keys, data keys and crypto (checked against python
//! `cryptography`), bad input, policies and identities, deletion seen by every data plane, and
//! no key material in the clear on disk. Running the service (the control plane away, audit
//! streams, rotation, metrics, `client_ca`, the KEK's checks and a KEK in a PKCS#11 token):
//! `kes_operations.rs`.

use std::path::Path;
use std::time::Duration;

use sigil_tests::dp::wait_for;
use sigil_tests::kes::{expect, fleet, ok, python_kes, random_key_b64, Fleet, KesClient};
use sigil_tests::pki::{base64_decode, base64_encode};

#[test]
fn kes_keys_policies_identities_and_crypto_through_a_data_plane() {
    let dir = tempfile::tempdir().unwrap();
    let f = fleet(2, dir.path());
    let admin = &f.admin;
    let user = admin.as_identity(Some(&f.ids[1]));
    let anonymous = admin.as_identity(None);

    // Version needs no identity; everything else needs a client certificate.
    ok(&anonymous.call("GET", "/version", None), "version");
    expect(
        &anonymous.call("GET", "/v1/key/list/*", None),
        400,
        "tls: client certificate is required",
        "no certificate",
    );

    // Create (forwarded to the control plane, answered once applied here), twice.
    ok(&admin.call("POST", "/v1/key/create/my-key", None), "create");
    expect(
        &admin.call("PUT", "/v1/key/create/my-key", None),
        400,
        "key already exists",
        "create twice",
    );
    let d = ok(
        &admin.call("GET", "/v1/key/describe/my-key", None),
        "describe",
    );
    assert_eq!(d["name"], "my-key");
    assert_eq!(d["algorithm"], "AES256");
    assert_eq!(d["created_by"], f.ids[0].identity.as_str());
    let l = ok(&admin.call("GET", "/v1/key/list/my-*", None), "list");
    assert_eq!(l["names"], serde_json::json!(["my-key"]));
    expect(
        &admin.call("GET", "/v1/key/describe/nope", None),
        404,
        "key does not exist",
        "describe missing",
    );
    expect(
        &admin.call("GET", "/v1/key/create/x", None),
        405,
        "received method 'GET' expected 'PUT'",
        "method",
    );
    expect(
        &admin.call("PUT", "/v1/key/create/bad%20name", None),
        400,
        "key name 'bad%20name' is empty, too long or contains invalid characters",
        "name",
    );

    // Data keys as MinIO asks for them: a context, then decryption of the ciphertext.
    let context = base64_encode(br#"{"bucket":"bucket/object"}"#);
    let g = ok(
        &admin.call(
            "POST",
            "/v1/key/generate/my-key",
            Some(&format!(r#"{{"context":"{context}"}}"#)),
        ),
        "generate",
    );
    let plaintext = g["plaintext"].as_str().unwrap().to_string();
    let ciphertext = g["ciphertext"].as_str().unwrap().to_string();
    assert_eq!(base64_decode(&plaintext).len(), 32);
    let body = format!(r#"{{"ciphertext":"{ciphertext}","context":"{context}"}}"#);
    let dec = ok(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        "decrypt",
    );
    assert_eq!(dec["plaintext"], plaintext.as_str());
    // The same ciphertext on the second data plane.
    let second = KesClient {
        port: kes_port(&f, 1),
        ..admin.clone()
    };
    let dec = ok(
        &second.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        "decrypt on dp 2",
    );
    assert_eq!(dec["plaintext"], plaintext.as_str());
    // Another context is not authentic.
    let wrong = format!(r#"{{"ciphertext":"{ciphertext}","context":"e30="}}"#);
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&wrong)),
        400,
        "decryption failed: ciphertext is not authentic",
        "wrong context",
    );

    // An imported key: ciphertexts interoperate with an independent implementation.
    let key = random_key_b64();
    ok(
        &admin.call(
            "PUT",
            "/v1/key/import/known",
            Some(&format!(r#"{{"key":"{key}","cipher":"AES256"}}"#)),
        ),
        "import",
    );
    let secret = base64_encode(b"hello, KES");
    let e = ok(
        &admin.call(
            "PUT",
            "/v1/key/encrypt/known",
            Some(&format!(
                r#"{{"plaintext":"{secret}","context":"{context}"}}"#
            )),
        ),
        "encrypt",
    );
    let ct = e["ciphertext"].as_str().unwrap();
    assert_eq!(python_kes("decrypt", &key, ct, &context), secret);
    let theirs = python_kes("encrypt", &key, &secret, &context);
    let dec = ok(
        &admin.call(
            "PUT",
            "/v1/key/decrypt/known",
            Some(&format!(
                r#"{{"ciphertext":"{theirs}","context":"{context}"}}"#
            )),
        ),
        "decrypt python's",
    );
    assert_eq!(dec["plaintext"], secret.as_str());
    // The seed's import form.
    let key2 = random_key_b64();
    ok(
        &admin.call(
            "POST",
            "/v1/key/import/seed-form",
            Some(&format!(r#"{{"bytes":"{key2}"}}"#)),
        ),
        "import bytes",
    );
    let h = ok(
        &admin.call(
            "PUT",
            "/v1/key/hmac/known",
            Some(&format!(r#"{{"message":"{secret}"}}"#)),
        ),
        "hmac",
    );
    assert_eq!(base64_decode(h["hmac"].as_str().unwrap()).len(), 32);

    // A client resuming its TLS session (curl does, on a new connection) is still identified.
    let resumed = sigil_tests::run_unchecked(
        "curl",
        &[
            "-sS",
            "--cacert",
            f.tls.ca.to_str().unwrap(),
            "--cert",
            f.ids[0].cert.to_str().unwrap(),
            "--key",
            f.ids[0].key.to_str().unwrap(),
            "-H",
            "Connection: close",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} ",
            &format!("https://127.0.0.1:{}/v1/key/describe/my-key", admin.port),
            &format!("https://127.0.0.1:{}/v1/key/describe/my-key", admin.port),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&resumed.stdout).trim(),
        "200 200",
        "second connection: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );

    // Bad input gets KES's 4xx, and the listener keeps serving.
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some("{")),
        400,
        "invalid request body",
        "bad JSON",
    );
    expect(
        &admin.call(
            "PUT",
            "/v1/key/decrypt/my-key",
            Some(r#"{"ciphertext":"not base64!"}"#),
        ),
        400,
        "invalid request body",
        "not base64",
    );
    let big = format!(r#"{{"plaintext":"{}"}}"#, "A".repeat(2 << 20));
    expect(
        &admin.call("PUT", "/v1/key/encrypt/my-key", Some(&big)),
        413,
        "content too large",
        "2 MiB body",
    );
    ok(
        &admin.call("GET", "/v1/key/describe/my-key", None),
        "still serving",
    );

    // Policies and identities: a user with no policy is refused; then allowed what the policy
    // names; it cannot assign itself a policy.
    expect(
        &user.call("PUT", "/v1/key/generate/my-key", None),
        403,
        "not authorized: insufficient permissions",
        "no policy",
    );
    ok(
        &admin.call(
            "POST",
            "/v1/policy/write/minio",
            Some(r#"{"allow":["/v1/key/generate/my-*","/v1/key/decrypt/my-*","/v1/identity/assign/*"]}"#),
        ),
        "policy write",
    );
    let p = ok(
        &admin.call("GET", "/v1/policy/read/minio", None),
        "policy read",
    );
    assert!(p["allow"]["/v1/key/generate/my-*"].is_object(), "{p}");
    ok(
        &admin.call(
            "POST",
            &format!("/v1/identity/assign/minio/{}", f.ids[1].identity),
            None,
        ),
        "assign",
    );
    ok(
        &user.call("PUT", "/v1/key/generate/my-key", None),
        "user generate",
    );
    expect(
        &user.call("PUT", "/v1/key/create/other", None),
        403,
        "not authorized: insufficient permissions",
        "user create",
    );
    expect(
        &user.call(
            "POST",
            &format!("/v1/identity/assign/minio/{}", f.ids[1].identity),
            None,
        ),
        403,
        "identity cannot assign policy to itself",
        "self assign",
    );
    let me = ok(
        &user.call("GET", "/v1/identity/self/describe", None),
        "self",
    );
    assert_eq!(me["identity"], f.ids[1].identity.as_str());
    assert_eq!(me["admin"], false);
    let ids = ok(
        &admin.call("GET", "/v1/identity/list/*", None),
        "identities",
    );
    assert_eq!(ids["identities"], serde_json::json!([f.ids[1].identity]));

    // Forgetting the identity is enforced by every data plane within a second.
    ok(
        &admin.call(
            "DELETE",
            &format!("/v1/identity/forget/{}", f.ids[1].identity),
            None,
        ),
        "forget",
    );
    let user2 = KesClient {
        port: kes_port(&f, 1),
        ..user.clone()
    };
    for c in [&user, &user2] {
        wait_for(Duration::from_secs(1), "identity forgotten", || {
            (c.call("PUT", "/v1/key/generate/my-key", None).code() == 403).then_some(())
        });
    }

    // A deleted key is gone everywhere.
    ok(
        &admin.call("DELETE", "/v1/key/delete/my-key", None),
        "delete",
    );
    expect(
        &admin.call("PUT", "/v1/key/decrypt/my-key", Some(&body)),
        404,
        "key does not exist",
        "deleted",
    );
    wait_for(Duration::from_secs(2), "delete on dp 2", || {
        (second
            .call("PUT", "/v1/key/decrypt/my-key", Some(&body))
            .code()
            == 404)
            .then_some(())
    });

    // No key material in the clear in any file of either plane.
    for (what, data_dir) in [
        ("control plane", f.cp.data_dir().to_path_buf()),
        ("data plane", f.dps[0].data_dir()),
    ] {
        for needle in [
            base64_decode(&key),
            key.clone().into_bytes(),
            base64_decode(&key2),
        ] {
            assert!(
                !contains(&data_dir, &needle),
                "{what}: key material in the clear under {}",
                data_dir.display()
            );
        }
    }
}

/// The `[kes]` port of data plane `i` (from its configuration file).
fn kes_port(f: &Fleet, i: usize) -> u16 {
    let toml = std::fs::read_to_string(f.dps[i].data_dir().parent().unwrap().join("sigil-dp.toml"))
        .unwrap();
    let line = toml.lines().find(|l| l.starts_with("listen")).unwrap();
    line.rsplit(':')
        .next()
        .unwrap()
        .trim_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap()
}

/// Whether any file under `dir` contains `needle`.
fn contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}
