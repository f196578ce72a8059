//! SCEP (RFC 8894) on a real control plane's https public listener: Debian's micromdm
//! `scepclient` enrolls with an enrollment OTP as challenge and renews with its
//! certificate; `openssl verify` accepts the certificate and a data plane answers its OCSP
//! `good`; wrong challenges fail (CertRep FAILURE badRequest) and are audited; messages the
//! client does not send (GET PKIOperation, tampered signatures, garbage) are built with
//! `sigil_scep`. Pending requests and their approval: `scep/pending.rs`.

use std::time::Duration;

use base64::Engine;
use sigil_scep::request::{Outcome, Requester};
use sigil_scep::{ContentCipher, FailInfo, MessageType};
use sigil_tests::api::CertFiles;
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::pki::{combined, run, run_unchecked, unique_path, write_file};
use sigil_tests::scep::{openssl_verify, ScepServer};
use sigil_tests::tools::require;

/// Pending requests, CertPoll and the admin API's approval.
#[path = "scep/pending.rs"]
mod pending;

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serial_of(pem: &std::path::Path) -> String {
    let o = run(
        "openssl",
        &["x509", "-noout", "-serial", "-in", pem.to_str().unwrap()],
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
}

fn enrollment_types(server: &ScepServer, cn: &str) -> Vec<String> {
    server
        .est
        .admin_certs(cn)
        .iter()
        .map(|c| c["enrollment_type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn scepclient_enrolls_with_an_otp_renews_and_the_data_plane_answers_good() {
    if require(&["scepclient"], "apt-get install scep").is_none() {
        return;
    }
    let server = ScepServer::start("");
    let work = server.work();

    // GetCACaps: text, one capability a line.
    let caps = server.curl("operation=GetCACaps", &[]);
    assert_eq!(caps.code(), 200, "{}", caps.stderr);
    assert_eq!(header(&caps.headers, "content-type"), Some("text/plain"));
    let text = String::from_utf8_lossy(&caps.body).into_owned();
    for cap in [
        "POSTPKIOperation",
        "SHA-256",
        "AES",
        "SCEPStandard",
        "Renewal",
    ] {
        assert!(text.lines().any(|l| l == cap), "{cap} missing: {text}");
    }

    // GetCACert: RA + issuing CA + root as a certs-only PKCS#7.
    let r = server.curl("operation=GetCACert", &[]);
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/x-x509-ca-ra-cert")
    );
    let ca = server.ca_certs();
    let ra_text = combined(&run(
        "openssl",
        &["x509", "-noout", "-text", "-in", ca.ra.to_str().unwrap()],
    ));
    assert!(
        ra_text.contains("Key Encipherment") && ra_text.contains("rsaEncryption"),
        "{ra_text}"
    );
    let (ok, out) = openssl_verify(&ca.chain, &ca.ra);
    assert!(ok, "the RA certificate chains to the CA: {out}");

    // Enrollment with an OTP as challenge password.
    let cn = "scep-device-1.example.com";
    let (_, otp) = server.est.otp(cn, 3600, 1);
    let dir = work.join("device-1");
    let o = server.scepclient(&dir, cn, &otp, &ca.ra_sha256);
    assert!(o.status.success(), "scepclient: {}", combined(&o));
    let cert = dir.join("cert.pem");
    let (ok, out) = openssl_verify(&ca.chain, &cert);
    assert!(ok, "openssl verify: {out}");
    let subject = combined(&run(
        "openssl",
        &["x509", "-noout", "-subject", "-in", cert.to_str().unwrap()],
    ));
    assert!(subject.contains(&format!("CN = {cn}")), "{subject}");
    assert_eq!(enrollment_types(&server, cn), vec!["scep"]);
    let first_serial = serial_of(&cert);

    // A data plane answers its OCSP `good`.
    let mut dp = DataPlane::start(&server.est.cp.base_url());
    dp.wait_ready(Duration::from_secs(30))
        .expect("data plane ready");
    let files = CertFiles {
        leaf: cert.clone(),
        issuing: ca.issuing.clone(),
        bundle: ca.chain.clone(),
    };
    let url = dp.url("/");
    let mut last = String::new();
    wait_for(
        Duration::from_secs(15),
        "the data plane to answer good",
        || {
            last = openssl_ocsp_url(&url, &files);
            last.contains(": good").then_some(())
        },
    );
    assert!(last.contains("Response verify OK"), "{last}");

    // The used OTP does not enroll again (new device directory: a new key, a PKCSReq).
    let again = server.scepclient(&work.join("device-1b"), cn, &otp, &ca.ra_sha256);
    assert!(!again.status.success());
    assert!(
        combined(&again).contains("badRequest"),
        "{}",
        combined(&again)
    );

    // Renewal: with cert.pem present scepclient sends a RenewalReq signed by it.
    let o = server.scepclient(&dir, cn, "", &ca.ra_sha256);
    assert!(o.status.success(), "scepclient renewal: {}", combined(&o));
    let renewed_serial = serial_of(&cert);
    assert_ne!(renewed_serial, first_serial);
    let (ok, out) = openssl_verify(&ca.chain, &cert);
    assert!(ok, "openssl verify (renewed): {out}");
    assert_eq!(enrollment_types(&server, cn), vec!["scep", "scep"]);
}

#[test]
fn wrong_challenges_fail_and_are_audited() {
    if require(&["scepclient"], "apt-get install scep").is_none() {
        return;
    }
    let server = ScepServer::start("");
    let work = server.work();
    let ca = server.ca_certs();
    let cn = "scep-device-2.example.com";
    let (_, otp) = server.est.otp(cn, 3600, 1);

    let o = server.scepclient(&work.join("wrong"), cn, "not-the-otp", &ca.ra_sha256);
    assert!(!o.status.success());
    let out = combined(&o);
    assert!(out.contains("failInfo: badRequest"), "{out}");
    // No challenge at all.
    let o = server.scepclient(&work.join("none"), cn, "", &ca.ra_sha256);
    assert!(
        combined(&o).contains("failInfo: badRequest"),
        "{}",
        combined(&o)
    );
    // An OTP of another entity.
    let o = server.scepclient(&work.join("other"), "someone-else", &otp, &ca.ra_sha256);
    assert!(
        combined(&o).contains("failInfo: badRequest"),
        "{}",
        combined(&o)
    );
    assert!(server.est.admin_certs(cn).is_empty());

    let (_, audit) = server
        .est
        .cp
        .api("GET", "/api/v1/audit?action=otp.use&per_page=100", None);
    let failures: Vec<&serde_json::Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .collect();
    assert!(
        failures.iter().any(|e| {
            let d = e["details"].to_string();
            d.contains("scep") && d.contains(cn)
        }),
        "{audit}"
    );

    // The right OTP still works afterwards.
    let o = server.scepclient(&work.join("right"), cn, &otp, &ca.ra_sha256);
    assert!(o.status.success(), "{}", combined(&o));
}

/// A requester made by openssl: its key and self-signed certificate, a CSR for `cn` with
/// `challenge` (none if empty), and the key (PKCS#8 DER) and certificate (DER) files.
struct Made {
    req: Requester,
    csr: Vec<u8>,
    key: std::path::PathBuf,
    crt: std::path::PathBuf,
}

fn requester(dir: &std::path::Path, cn: &str, challenge: &str) -> (Requester, Vec<u8>) {
    let m = make_requester(dir, cn, challenge);
    (m.req, m.csr)
}

fn make_requester(dir: &std::path::Path, cn: &str, challenge: &str) -> Made {
    let key = unique_path(dir, "req", "key");
    let crt = unique_path(dir, "req", "crt");
    let csr = unique_path(dir, "req", "csr");
    let cnf = unique_path(dir, "req", "cnf");
    let attrs = if challenge.is_empty() {
        String::new()
    } else {
        format!("[attrs]\nchallengePassword={challenge}\n")
    };
    let attributes = if challenge.is_empty() {
        ""
    } else {
        "attributes=attrs\n"
    };
    write_file(
        &cnf,
        format!("[req]\ndistinguished_name=dn\n{attributes}prompt=no\n[dn]\nCN={cn}\n{attrs}"),
    );
    let script = format!(
        "set -e; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | \
  openssl pkcs8 -topk8 -nocrypt -outform DER -out {k}
openssl req -x509 -new -key {k} -keyform DER -subj /CN={cn} -days 1 -outform DER -out {c}
openssl req -new -key {k} -keyform DER -config {f} -outform DER -out {r}",
        k = key.display(),
        c = crt.display(),
        f = cnf.display(),
        r = csr.display()
    );
    run("sh", &["-c", &script]);
    let pkcs8 = std::fs::read(&key).unwrap();
    let req = Requester::new(&pkcs8, &std::fs::read(&crt).unwrap()).expect("requester");
    Made {
        req,
        csr: std::fs::read(&csr).unwrap(),
        key,
        crt,
    }
}

#[test]
fn get_pkioperation_tampered_and_garbage_messages() {
    let server = ScepServer::start("");
    let work = server.work();
    let ca = server.ca_certs();
    let ra_der = run(
        "openssl",
        &["x509", "-outform", "DER", "-in", ca.ra.to_str().unwrap()],
    )
    .stdout;
    let ra = <x509_cert::Certificate as der::Decode>::from_der(&ra_der).unwrap();
    let cn = "scep-device-3.example.com";
    let (_, otp) = server.est.otp(cn, 3600, 2);
    let made = make_requester(&work, cn, &otp);
    let (req, csr) = (&made.req, made.csr.clone());

    // PKIOperation by GET (base64 message, AES-256), answered SUCCESS.
    let (msg, nonce) = req
        .request(
            MessageType::PkcsReq,
            "tx-get",
            &csr,
            &ra,
            ContentCipher::Aes256Cbc,
        )
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&msg);
    let r = server.curl(
        "operation=PKIOperation",
        &["-G", "--data-urlencode", &format!("message={b64}")],
    );
    assert_eq!(r.code(), 200, "{}", r.stderr);
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/x-pki-message")
    );
    let (rep, outcome) = req.read_reply(&r.body, &nonce).expect("CertRep");
    assert_eq!(rep.signer_der, ra_der, "signed by the RA");
    // openssl reads the CertRep too: the RA's signature (chained to the CA), then the
    // envelope with the requester's key, then the certificate.
    let rep_der = unique_path(&work, "certrep", "der");
    write_file(&rep_der, &r.body);
    let env_der = unique_path(&work, "envelope", "der");
    let v = run_unchecked(
        "openssl",
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            rep_der.to_str().unwrap(),
            "-CAfile",
            ca.chain.to_str().unwrap(),
            "-purpose",
            "any",
            "-binary",
            "-out",
            env_der.to_str().unwrap(),
        ],
    );
    assert!(v.status.success(), "openssl cms -verify: {}", combined(&v));
    let p7 = unique_path(&work, "issued", "p7");
    let d = run_unchecked(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            env_der.to_str().unwrap(),
            "-recip",
            made.crt.to_str().unwrap(),
            "-inkey",
            made.key.to_str().unwrap(),
            "-binary",
            "-out",
            p7.to_str().unwrap(),
        ],
    );
    assert!(d.status.success(), "openssl cms -decrypt: {}", combined(&d));
    let printed = combined(&run(
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            p7.to_str().unwrap(),
            "-print_certs",
        ],
    ));
    assert!(printed.contains(&format!("CN = {cn}")), "{printed}");
    assert_eq!(rep.transaction_id, "tx-get");
    let Outcome::Issued(certs) = outcome else {
        panic!("{outcome:?}")
    };
    let leaf = unique_path(&work, "leaf", "der");
    write_file(&leaf, &certs[0]);
    let leaf_pem = unique_path(&work, "leaf", "pem");
    run(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            leaf.to_str().unwrap(),
            "-out",
            leaf_pem.to_str().unwrap(),
        ],
    );
    let (ok, out) = openssl_verify(&ca.chain, &leaf_pem);
    assert!(ok, "{out}");

    // A tampered signature: CertRep FAILURE badMessageCheck, and the OTP is not spent.
    let (mut msg, nonce) = req
        .request(
            MessageType::PkcsReq,
            "tx-bad",
            &csr,
            &ra,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    let n = msg.len();
    msg[n - 5] ^= 0x55; // inside the signature value, the last field
    let body = unique_path(&work, "bad", "der");
    write_file(&body, &msg);
    let post = |path: &std::path::Path| {
        server.curl(
            "operation=PKIOperation",
            &[
                "-H",
                "Content-Type: application/x-pki-message",
                "--data-binary",
                &format!("@{}", path.display()),
            ],
        )
    };
    let r = post(&body);
    assert_eq!(r.code(), 200, "{}", r.stderr);
    let (_, outcome) = req.read_reply(&r.body, &nonce).unwrap();
    assert_eq!(outcome, Outcome::Failed(FailInfo::BadMessageCheck));

    // Encrypted to someone else (the requester itself): badMessageCheck.
    let (msg, nonce) = req
        .request(
            MessageType::PkcsReq,
            "tx-else",
            &csr,
            &req.cert,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    write_file(&body, &msg);
    let (_, outcome) = req.read_reply(&post(&body).body, &nonce).unwrap();
    assert_eq!(outcome, Outcome::Failed(FailInfo::BadMessageCheck));

    // A RenewalReq signed by a certificate the CA never issued: badCertId.
    let (msg, nonce) = req
        .request(
            MessageType::RenewalReq,
            "tx-renew",
            &csr,
            &ra,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
    write_file(&body, &msg);
    let (_, outcome) = req.read_reply(&post(&body).body, &nonce).unwrap();
    assert_eq!(outcome, Outcome::Failed(FailInfo::BadCertId));

    // The second use of the 2-use OTP still works (nothing above spent it).
    let (msg, nonce) = req
        .request(
            MessageType::PkcsReq,
            "tx-2",
            &csr,
            &ra,
            ContentCipher::DesEde3Cbc,
        )
        .unwrap();
    write_file(&body, &msg);
    let (_, outcome) = req.read_reply(&post(&body).body, &nonce).unwrap();
    assert!(matches!(outcome, Outcome::Issued(_)), "{outcome:?}");

    // Undecodable: HTTP 400, no CertRep; unknown operations too.
    write_file(&body, b"\x30\x03garbage");
    assert_eq!(post(&body).code(), 400);
    assert_eq!(server.curl("operation=GetNextCACert", &[]).code(), 400);
    assert_eq!(
        server
            .curl("operation=PKIOperation&message=%%%", &[])
            .code(),
        400
    );
}
