//! Partitioned and delta CRLs (issue 23 item 3) end to end: an issuer with 4 CRL shards and
//! delta CRLs every few seconds; certificates name their shard's CRL and delta CRL; a data
//! plane serves them; `openssl crl` shows the critical Issuing Distribution Point and Delta CRL
//! Indicator, `openssl verify -crl_check -use_deltas` finds a revocation only the delta lists,
//! python `cryptography` reads both, and a release from hold is a removeFromCRL entry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sigil_tests::dp::{wait_for, DataPlane};
use sigil_tests::pki::{combined, crl_serials, normalize_hex, run, run_unchecked, write_file};
use sigil_tests::{ControlPlane, Issued};

const CONFIG: &str =
    "[crl]\ntest_validity_secs = 900\ntest_delta_every_secs = 2\ndebounce_ms = 100\n";

/// The shard of a serial (hex) among `n`, as `crl::scope::Scope::of` assigns it.
fn shard_of(serial_hex: &str, n: u32) -> u32 {
    let bytes = sigil_tests::pki::hex_decode(serial_hex);
    let tail = &bytes[bytes.len().saturating_sub(4)..];
    let mut b = [0u8; 4];
    b[4 - tail.len()..].copy_from_slice(tail);
    u32::from_be_bytes(b) % n
}

fn pem_of_crl(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let d = dir.join(format!("{name}.der"));
    let p = dir.join(format!("{name}.pem"));
    write_file(&d, der);
    run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            d.to_str().unwrap(),
            "-out",
            p.to_str().unwrap(),
        ],
    );
    p
}

fn crl_text(pem: &Path) -> String {
    String::from_utf8(
        run(
            "openssl",
            &["crl", "-noout", "-text", "-in", pem.to_str().unwrap()],
        )
        .stdout,
    )
    .unwrap()
}

/// `openssl verify -crl_check [-use_deltas]` of a leaf with its chain and CRLs.
fn verify(chain: &Path, leaf: &Path, crls: &[&Path], deltas: bool) -> String {
    let mut args = vec!["verify", "-crl_check", "-CAfile", chain.to_str().unwrap()];
    if deltas {
        args.push("-use_deltas");
    }
    for c in crls {
        args.extend(["-CRLfile", c.to_str().unwrap()]);
    }
    args.push(leaf.to_str().unwrap());
    combined(&run_unchecked("openssl", &args))
}

#[test]
fn shard_and_delta_crls_are_published_served_and_accepted() {
    let cp = ControlPlane::start_with_config(CONFIG);
    let dp = DataPlane::start(&cp.base_url());
    let dir = cp.work_dir();
    let (status, v) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({"id": "sharded", "name": "sharded", "subject": "CN=Sharded CA"})),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = cp.api(
        "PUT",
        "/api/v1/issuers/sharded",
        Some(&json!({"config": {"crl_shards": 4}})),
    );
    assert_eq!(
        (status, v["config"]["crl_shards"].as_u64()),
        (200, Some(4)),
        "{v}"
    );
    assert_eq!(
        v["crl_urls"].as_array().unwrap().len(),
        10,
        "complete + 4 shards, each with a delta: {v}"
    );

    let certs: Vec<Issued> = (0..12)
        .map(|i| cp.issue_new("sharded", &format!("s{i}.example.com")))
        .collect();
    for (i, c) in certs.iter().enumerate().take(4) {
        let files = c.write(&dir, &format!("s{i}"));
        let text = String::from_utf8(
            run(
                "openssl",
                &[
                    "x509",
                    "-noout",
                    "-text",
                    "-in",
                    files.leaf.to_str().unwrap(),
                ],
            )
            .stdout,
        )
        .unwrap();
        let k = shard_of(&c.serial, 4);
        assert!(text.contains(&format!("/crl/sharded/4-{k}.crl")), "{text}");
        assert!(
            text.contains("X509v3 Freshest CRL")
                && text.contains(&format!("/crl/sharded/4-{k}/delta.crl")),
            "{text}"
        );
    }

    // The base CRLs of the shard a revoked certificate is in, as the data plane serves them.
    // 12 certificates over 4 shards: some shard holds at least 3 of them (pigeonhole).
    let k = (0..4)
        .max_by_key(|k| {
            certs
                .iter()
                .filter(|c| shard_of(&c.serial, 4) == *k)
                .count()
        })
        .unwrap();
    let mut in_k = certs.iter().filter(|c| shard_of(&c.serial, 4) == k);
    let (target, same_shard, other) = (
        in_k.next().unwrap(),
        in_k.next().unwrap(),
        in_k.next().unwrap(),
    );
    let base_path = format!("/crl/sharded/4-{k}.crl");
    let base = wait_for(
        Duration::from_secs(10),
        "the shard's base CRL on the data plane",
        || {
            let r = dp.get(&base_path);
            (r.status == 200).then_some(r.body)
        },
    );
    let base_pem = pem_of_crl(&dir, "base", &base);
    let text = crl_text(&base_pem);
    assert!(
        text.contains("X509v3 Issuing Distribution Point: critical"),
        "{text}"
    );
    assert!(text.contains(&format!("/crl/sharded/4-{k}.crl")), "{text}");
    assert!(
        text.contains("Only User Certificates") && text.contains("X509v3 Freshest CRL"),
        "{text}"
    );

    assert_eq!(cp.revoke(&target.id, "keyCompromise").0, 200);
    assert_eq!(cp.revoke(&same_shard.id, "certificateHold").0, 200);
    let delta_path = format!("/crl/sharded/4-{k}/delta.crl");
    let want = [
        normalize_hex(&target.serial),
        normalize_hex(&same_shard.serial),
    ];
    let delta = wait_for(
        Duration::from_secs(15),
        "both revocations on the shard's delta CRL",
        || {
            let r = dp.get(&delta_path);
            let pem = pem_of_crl(&dir, "delta-wait", &r.body);
            let listed = crl_serials(&crl_text(&pem));
            (r.status == 200 && want.iter().all(|w| listed.contains(w))).then_some(r.body)
        },
    );
    let delta_pem = pem_of_crl(&dir, "delta", &delta);
    let dtext = crl_text(&delta_pem);
    assert!(
        dtext.contains("X509v3 Delta CRL Indicator: critical"),
        "{dtext}"
    );

    // openssl: the base alone (older) does not know the revocation; with the delta it does.
    let files = target.write(&dir, "target");
    let chain = files.bundle.clone();
    assert!(verify(&chain, &files.leaf, &[&base_pem], false).contains(": OK"));
    let out = verify(&chain, &files.leaf, &[&base_pem, &delta_pem], true);
    assert!(out.contains("certificate revoked"), "{out}");
    let f = other.write(&dir, "other");
    let out = verify(&chain, &f.leaf, &[&base_pem, &delta_pem], true);
    assert!(out.contains(": OK"), "{out}");

    // python cryptography reads the IDP and the delta indicator.
    if run_unchecked("python3", &["-c", "import cryptography"])
        .status
        .success()
    {
        let b = dir.join("base.der");
        let d = dir.join("delta.der");
        write_file(&d, &delta);
        let script = format!(
            "import sys\nfrom cryptography import x509\nb = x509.load_der_x509_crl(open(sys.argv[1],'rb').read())\nd = x509.load_der_x509_crl(open(sys.argv[2],'rb').read())\nidp = b.extensions.get_extension_for_class(x509.IssuingDistributionPoint)\nassert idp.critical and idp.value.only_contains_user_certs\nassert idp.value.full_name[0].value.endswith('/crl/sharded/4-{k}.crl')\nbase_no = b.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number\nind = d.extensions.get_extension_for_class(x509.DeltaCRLIndicator)\nassert ind.critical and ind.value.crl_number == base_no, (ind, base_no)\nassert d.get_revoked_certificate_by_serial_number(int(sys.argv[3], 16)) is not None\nprint('ok')\n"
        );
        let out = run(
            "python3",
            &[
                "-c",
                &script,
                b.to_str().unwrap(),
                d.to_str().unwrap(),
                &target.serial,
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }

    // A new complete generation lists both in the bases (the held one as on hold) and starts
    // empty deltas; a release from hold is then a delta's removeFromCRL.
    let (status, v) = cp.api("POST", "/api/v1/issuers/sharded/crl", None);
    assert_eq!(status, 200, "{v}");
    wait_for(
        Duration::from_secs(10),
        "the complete CRL listing both",
        || {
            let r = dp.get("/crl/sharded.crl");
            let listed = crl_serials(&crl_text(&pem_of_crl(&dir, "full", &r.body)));
            want.iter().all(|w| listed.contains(w)).then_some(())
        },
    );
    let (status, _) = cp.api(
        "POST",
        &format!("/api/v1/certificates/{}/unhold", same_shard.id),
        None,
    );
    assert_eq!(status, 200);
    let text = wait_for(
        Duration::from_secs(15),
        "removeFromCRL on the delta",
        || {
            let r = dp.get(&delta_path);
            let text = crl_text(&pem_of_crl(&dir, "delta-rm", &r.body));
            text.contains("Remove From CRL").then_some(text)
        },
    );
    let listed = crl_serials(&text);
    assert_eq!(listed, [want[1].clone()], "only the released one: {text}");
}
