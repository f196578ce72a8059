//! EST through the public router on an in-memory store: plain-text errors (401/400/404/405/
//! 409), labels and the default CA, cacerts and csrattrs, a 1-use OTP under concurrency, the
//! failed-OTP rate limit (also configured by `[public.est]`), renamed and disabled issuers;
//! the EST counters on `/metrics`.

#[path = "support/est_client.rs"]
mod est_client;

use est_client::*;
use sigil_controlplane::api::public_router;
use sigil_controlplane::config::{CpConfig, EstConfig, Profile};
use sigil_controlplane::est::{pkcs7, wire};
use sigil_controlplane::services::issuers::CreateCa;

#[tokio::test(flavor = "multi_thread")]
async fn errors_labels_cacerts_and_csrattrs() {
    let mut cfg = CpConfig::default();
    cfg.profiles.insert(
        "est-demo-root".into(),
        Profile {
            require_san: true,
            ..Profile::default()
        },
    );
    let a = authority(cfg);
    let r = public_router(a.clone());
    let (_, otp) = a.otps.create_otp("dev", 3600, 1).unwrap();
    let enroll = format!("{EST}/simpleenroll");

    let get = call(&r, "GET", &enroll, None, None, "").await;
    assert_eq!(get.status, 405);
    assert_eq!(get.headers["allow"], "POST");
    assert!(get.body.contains("POST"));
    assert_eq!(
        call(&r, "POST", &format!("{EST}/cacerts"), None, None, "")
            .await
            .status,
        405
    );
    let unknown = call(
        &r,
        "GET",
        &format!("{EST}/no-such-ca/cacerts"),
        None,
        None,
        "",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("no-such-ca"), "{}", unknown.body);
    assert_eq!(unknown.headers["content-type"], "text/plain; charset=utf-8");

    let missing = call(&r, "POST", &enroll, None, None, &csr("CN=dev")).await;
    assert_eq!(missing.status, 401);
    assert!(missing.headers.contains_key("www-authenticate"));
    let garbage = call(&r, "POST", &enroll, Some(("dev", &otp)), None, "not a CSR!").await;
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    let mismatch = call(
        &r,
        "POST",
        &enroll,
        Some(("dev", &otp)),
        None,
        &csr("CN=not-dev"),
    )
    .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("entity id"), "{}", mismatch.body);
    // Neither spent the OTP: PEM works too.
    let der = wire::decode_base64(csr("CN=dev").as_bytes()).unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}-----END CERTIFICATE REQUEST-----\n",
        wire::encode_base64(&der)
    );
    let ok = call(&r, "POST", &enroll, Some(("dev", &otp)), None, &pem).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let cacerts = call(&r, "GET", &format!("{EST}/cacerts"), None, None, "").await;
    assert_eq!(cacerts.status, 200);
    let chain = pkcs7::certs_of(&wire::decode_base64(cacerts.body.as_bytes()).unwrap()).unwrap();
    let demo = a.issuers.ca("demo").unwrap();
    let root = a.issuers.ca("demo-root").unwrap();
    let mut want = vec![demo.record.cert_der.clone(), root.record.cert_der.clone()];
    want.sort();
    assert_eq!(chain, want, "issuing CA and root");

    assert_eq!(
        call(&r, "GET", &format!("{EST}/csrattrs"), None, None, "")
            .await
            .status,
        204
    );
    let attrs = call(
        &r,
        "GET",
        &format!("{EST}/demo-root/csrattrs"),
        None,
        None,
        "",
    )
    .await;
    assert_eq!(attrs.status, 200);
    assert_eq!(attrs.headers["content-type"], "application/csrattrs");
    assert_eq!(
        wire::decode_base64(attrs.body.as_bytes()).unwrap(),
        [0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11],
        "asks for subjectAltName"
    );

    // Every answer is counted by operation and status; the mismatch as an OTP failure.
    let text = a.metrics().render();
    for line in [
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"405\"} 1",
        "sigil_cp_est_requests_total{operation=\"cacerts\",status=\"405\"} 1",
        "sigil_cp_est_requests_total{operation=\"cacerts\",status=\"404\"} 1",
        "sigil_cp_est_requests_total{operation=\"cacerts\",status=\"200\"} 1",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"401\"} 1",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"400\"} 2",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"200\"} 1",
        "sigil_cp_est_requests_total{operation=\"csrattrs\",status=\"204\"} 1",
        "sigil_cp_est_requests_total{operation=\"csrattrs\",status=\"200\"} 1",
        "sigil_cp_est_otp_failures_total{reason=\"name_mismatch\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }

    // A second issuing CA: no default any more, labels still work.
    a.issuers
        .create_ca(CreateCa {
            name: "iot-fleet".into(),
            subject: Some("CN=IoT Fleet CA".into()),
            parent_id: Some("demo-root".into()),
            ..Default::default()
        })
        .unwrap();
    let nodefault = call(&r, "GET", &format!("{EST}/cacerts"), None, None, "").await;
    assert_eq!(nodefault.status, 404);
    assert!(nodefault.body.contains("iot-fleet"), "{}", nodefault.body);
    assert_eq!(
        call(
            &r,
            "GET",
            &format!("{EST}/iot-fleet/cacerts"),
            None,
            None,
            ""
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_use_otp_wins_once_and_failures_are_rate_limited() {
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    let (_, otp) = a.otps.create_otp("racer", 3600, 1).unwrap();
    let path = format!("{EST}/simpleenroll");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (r, otp, path) = (r.clone(), otp.clone(), path.clone());
            tokio::spawn(async move {
                call(
                    &r,
                    "POST",
                    &path,
                    Some(("racer", &otp)),
                    None,
                    &csr("CN=racer"),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401]);

    // 5 failures per entity, then 429 with Retry-After (without checking the password).
    for _ in 0..5 {
        let s = call(
            &r,
            "POST",
            &path,
            Some(("victim", "guess")),
            None,
            &csr("CN=victim"),
        )
        .await;
        assert_eq!(s.status, 401);
    }
    let limited = call(
        &r,
        "POST",
        &path,
        Some(("victim", "guess")),
        None,
        &csr("CN=victim"),
    )
    .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
    let (_, fresh) = a.otps.create_otp("bystander", 3600, 1).unwrap();
    let ok = call(
        &r,
        "POST",
        &path,
        Some(("bystander", &fresh)),
        None,
        &csr("CN=bystander"),
    )
    .await;
    assert_eq!(
        ok.status, 200,
        "another entity from the same address: {}",
        ok.body
    );

    let failures = a
        .audit
        .list(1, u64::MAX, 1, 100, &|e| {
            e.event.action == "otp.use" && !e.event.success
        })
        .unwrap()
        .1;
    assert_eq!(
        failures,
        5 + 5,
        "race losers and wrong guesses audited, 429s not"
    );
    let text = a.metrics().render();
    for line in [
        "sigil_cp_est_otp_failures_total{reason=\"used_up\"} 5",
        "sigil_cp_est_otp_failures_total{reason=\"unknown\"} 5",
        "sigil_cp_est_rate_limited_total{scope=\"entity\"} 1",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"429\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(!text.contains("scope=\"source\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_come_from_public_est() {
    let mut cfg = CpConfig::default();
    cfg.public.est = EstConfig {
        failures_per_entity: 2,
        entity_refill_secs: 120,
        failures_per_source: 4,
        source_refill_secs: 600,
        ..EstConfig::default()
    };
    let a = authority(cfg);
    let r = public_router(a.clone());
    let path = format!("{EST}/simpleenroll");
    let attempt = |entity: &'static str, otp: String| {
        let (r, path) = (r.clone(), path.clone());
        async move {
            call(
                &r,
                "POST",
                &path,
                Some((entity, &otp)),
                None,
                &csr(&format!("CN={entity}")),
            )
            .await
        }
    };
    let (_, once) = a.otps.create_otp("once", 3600, 1).unwrap();
    assert_eq!(attempt("once", once.clone()).await.status, 200);
    assert_eq!(attempt("once", once).await.status, 401, "used up");
    for _ in 0..2 {
        assert_eq!(attempt("victim", "guess".into()).await.status, 401);
    }
    // The entity's 2 failures are used; the address has 1 of its 4 left.
    let limited = attempt("victim", "guess".into()).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.headers["retry-after"], "120");
    assert_eq!(attempt("other", "guess".into()).await.status, 401);
    // Now the address is limited too: even a good OTP is not checked (nor spent).
    let (_, fresh) = a.otps.create_otp("fresh", 3600, 1).unwrap();
    let refused = attempt("fresh", fresh).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.headers["retry-after"], "600");
    assert_eq!(attempt("victim", "guess".into()).await.status, 429);
    assert_eq!(
        a.otps.active_otps().unwrap().len(),
        1,
        "the fresh OTP is unused"
    );

    let text = a.metrics().render();
    for line in [
        "sigil_cp_est_otp_failures_total{reason=\"unknown\"} 3",
        "sigil_cp_est_otp_failures_total{reason=\"used_up\"} 1",
        "sigil_cp_est_rate_limited_total{scope=\"entity\"} 2",
        "sigil_cp_est_rate_limited_total{scope=\"source\"} 2",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"200\"} 1",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"401\"} 4",
        "sigil_cp_est_requests_total{operation=\"simpleenroll\",status=\"429\"} 3",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_follow_renames_and_disabled_issuers_refuse() {
    use sigil_controlplane::services::issuers::IssuerUpdate;
    let a = authority(CpConfig::default());
    let r = public_router(a.clone());
    a.issuers
        .update_issuer(
            "demo",
            &IssuerUpdate {
                name: Some("iot-fleet".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let cacerts = |label: &'static str| {
        let r = r.clone();
        async move {
            call(&r, "GET", &format!("{EST}/{label}/cacerts"), None, None, "")
                .await
                .status
        }
    };
    assert_eq!(cacerts("iot-fleet").await, 200);
    assert_eq!(
        cacerts("demo").await,
        404,
        "the old name is no label any more"
    );

    a.issuers
        .update_issuer(
            "demo",
            &IssuerUpdate {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    let (_, otp) = a.otps.create_otp("dev", 3600, 1).unwrap();
    let path = format!("{EST}/iot-fleet/simpleenroll");
    let refused = call(&r, "POST", &path, Some(("dev", &otp)), None, &csr("CN=dev")).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("disabled"), "{}", refused.body);
    a.issuers
        .update_issuer(
            "demo",
            &IssuerUpdate {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    let ok = call(&r, "POST", &path, Some(("dev", &otp)), None, &csr("CN=dev")).await;
    assert_eq!(
        ok.status, 200,
        "the refusal did not spend the OTP: {}",
        ok.body
    );
}
