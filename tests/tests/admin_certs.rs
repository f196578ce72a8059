//! kipuka's `GET /admin/certs` on a real control plane: shape, filters, paging, errors.

use sigil_tests::ControlPlane;

#[test]
fn admin_certs_lists_filters_and_pages() {
    let cp = ControlPlane::start();
    let issuer = cp.demo_issuer_id();
    let a = cp.issue_new(&issuer, "alpha.example.com");
    let b = cp.issue_new(&issuer, "beta.example.com");
    let _c = cp.issue_new(&issuer, "gamma.example.org");
    assert_eq!(cp.revoke(&b.id, "superseded").0, 200);

    let (status, all) = cp.api("GET", "/admin/certs", None);
    assert_eq!(status, 200, "{all}");
    println!("{all:#}");
    assert_eq!(
        (
            all["page"].as_u64(),
            all["per_page"].as_u64(),
            all["total"].as_u64()
        ),
        (Some(1), Some(50), Some(3))
    );
    let certs = all["certificates"].as_array().unwrap();
    let alpha = certs
        .iter()
        .find(|c| c["subject"].as_str().unwrap().contains("alpha"))
        .unwrap();
    let expected_serial: Vec<String> =
        a.id.as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).to_uppercase())
            .collect();
    assert_eq!(alpha["serial"], expected_serial.join(":"));
    assert_eq!(alpha["ca_id"], issuer.as_str());
    assert_eq!(alpha["status"], "active");
    assert_eq!(alpha["enrollment_type"], "api");
    let ca = cp
        .issuers()
        .into_iter()
        .find(|i| i["id"] == issuer.as_str())
        .unwrap();
    assert_eq!(alpha["issuer"], ca["subject"]);
    for f in ["not_before", "not_after"] {
        assert!(alpha[f].as_str().unwrap().ends_with('Z'));
    }

    let q = |query: &str| {
        let (status, v) = cp.api("GET", &format!("/admin/certs?{query}"), None);
        assert_eq!(status, 200, "{query}: {v}");
        v
    };
    assert_eq!(q("status=revoked")["total"], 1);
    assert!(q("status=revoked")["certificates"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("beta"));
    assert_eq!(q("status=active")["total"], 2);
    assert_eq!(q("status=expired")["total"], 0);
    assert_eq!(q("subject=EXAMPLE.COM")["total"], 2);
    let p2 = q("per_page=1&page=2");
    assert_eq!(
        (
            p2["total"].as_u64(),
            p2["certificates"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    assert_eq!(q("issued_after=2999-01-01")["total"], 0);
    assert_eq!(q("issued_before=2999-01-01T00:00:00Z")["total"], 3);
    for bad in [
        "per_page=501",
        "per_page=0",
        "status=lost",
        "issued_after=yesterday",
        "nope=1",
    ] {
        let (status, v) = cp.api("GET", &format!("/admin/certs?{bad}"), None);
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
}
