//! `[scep] pending`: the client waits while an administrator approves or rejects its
//! request through the admin API; CertPoll; durability across kill -9.

use super::*;

#[test]
fn pending_requests_wait_for_an_administrator() {
    if require(&["scepclient"], "apt-get install scep").is_none() {
        return;
    }
    let mut server = ScepServer::start("pending = true\n");
    let work = server.work();
    let ca = server.ca_certs();
    let cp = &server.est.cp;

    // scepclient without a challenge: PENDING; it sleeps 30 s and sends the request again.
    let cn = "scep-pending-1.example.com";
    let dir = work.join("pending");
    let mut child = server
        .scepclient_command(&dir, cn, "", &ca.ra_sha256)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn scepclient");
    let pending = wait_for(Duration::from_secs(20), "a pending request", || {
        let (status, v) = cp.api("GET", "/api/v1/scep/requests?state=pending", None);
        assert_eq!(status, 200, "{v}");
        v.as_array().and_then(|a| a.first().cloned())
    });
    assert!(
        pending["subject"].as_str().unwrap().contains(cn),
        "{pending}"
    );
    let id = pending["id"].as_str().unwrap().to_owned();
    let (status, v) = cp.api("GET", &format!("/api/v1/scep/requests/{id}"), None);
    assert_eq!((status, v["state"].as_str()), (200, Some("pending")), "{v}");
    let (status, v) = cp.api("POST", &format!("/api/v1/scep/requests/{id}/approve"), None);
    assert_eq!(status, 200, "{v}");
    let cert_id = v["cert_id"].as_str().unwrap().to_owned();
    assert_eq!(v["request"]["state"], "approved");
    // Decided once.
    let (status, _) = cp.api("POST", &format!("/api/v1/scep/requests/{id}/approve"), None);
    assert_eq!(status, 409);
    let (status, _) = cp.api("POST", &format!("/api/v1/scep/requests/{id}/reject"), None);
    assert_eq!(status, 409);

    // The client's next attempt (within 30 s) gets the certificate.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scepclient still polling"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "scepclient: {}", combined(&out));
    let cert = dir.join("cert.pem");
    let (ok, verify) = openssl_verify(&ca.chain, &cert);
    assert!(ok, "{verify}");
    assert_eq!(serial_of(&cert).to_lowercase(), cert_id);
    assert_eq!(enrollment_types(&server, cn), vec!["scep"]);

    // CertPoll (built with sigil_scep): pending, then rejected → FAILURE badRequest; an
    // unknown transaction → badCertId.
    let ra_der = run(
        "openssl",
        &["x509", "-outform", "DER", "-in", ca.ra.to_str().unwrap()],
    )
    .stdout;
    let ra = <x509_cert::Certificate as der::Decode>::from_der(&ra_der).unwrap();
    let (req, csr) = requester(&work, "scep-pending-2.example.com", "");
    let body = unique_path(&work, "poll", "der");
    let send = |server: &ScepServer, t: MessageType, tx: &str, inner: &[u8]| {
        let (msg, nonce) = req
            .request(t, tx, inner, &ra, ContentCipher::Aes128Cbc)
            .unwrap();
        write_file(&body, &msg);
        let r = server.curl(
            "operation=PKIOperation",
            &[
                "-H",
                "Content-Type: application/x-pki-message",
                "--data-binary",
                &format!("@{}", body.display()),
            ],
        );
        assert_eq!(r.code(), 200, "{}", r.stderr);
        req.read_reply(&r.body, &nonce).unwrap().1
    };
    let poll = b"\x30\x00";
    assert_eq!(
        send(&server, MessageType::PkcsReq, "tx-p2", &csr),
        Outcome::Pending
    );
    // Acknowledged means durable: the pending request and the RA survive kill -9.
    server.est.cp.kill9();
    server.est.cp.restart();
    assert_eq!(server.ca_certs().ra_sha256, ca.ra_sha256, "the same RA");
    assert_eq!(
        send(&server, MessageType::CertPoll, "tx-p2", poll),
        Outcome::Pending
    );
    let cp = &server.est.cp;
    let (_, list) = cp.api("GET", "/api/v1/scep/requests?state=pending", None);
    let id2 = list[0]["id"].as_str().unwrap().to_owned();
    let (status, v) = cp.api(
        "POST",
        &format!("/api/v1/scep/requests/{id2}/reject"),
        Some(&serde_json::json!({"reason": "unknown device"})),
    );
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("rejected")),
        "{v}"
    );
    assert_eq!(
        send(&server, MessageType::CertPoll, "tx-p2", poll),
        Outcome::Failed(FailInfo::BadRequest)
    );
    assert_eq!(
        send(&server, MessageType::CertPoll, "tx-unknown", poll),
        Outcome::Failed(FailInfo::BadCertId)
    );
    let (_, audit) = cp.api("GET", "/api/v1/audit?per_page=200", None);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "scep.request.pending",
        "scep.request.reject",
        "scep.ra.issue",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}
