//! The web console's key service, SSH and API keys pages in process (the client:
//! support/console_client.rs; the same pages in a browser: tests/tests/console.rs).

#[path = "support/console_client.rs"]
mod console_client;
#[path = "support/est_client.rs"]
mod est_client;

use axum::http::StatusCode;
use console_client::*;

/// The key service, SSH and API keys pages: what they change, escaping, a multiple select's
/// values, refusals for a viewer.
#[tokio::test]
async fn key_service_ssh_and_api_keys_pages() {
    let cp = cp();
    let admin = sign_in(&cp, ADMIN).await;
    let post = |path: &str, form: String| {
        let path = path.to_string();
        let (cp, admin) = (&cp, admin.clone());
        async move {
            let page = send(cp, "GET", "/ui/", &admin, None).await;
            let form = format!("csrf={}&{form}", page.csrf());
            send(cp, "POST", &path, &admin, Some(&form)).await
        }
    };

    // Key service: create, rotate, delete.
    let r = post("/ui/kes/keys", "name=app-key".into()).await;
    assert_eq!(r.location(), "/ui/kes?done=kes-key-created", "{}", r.body);
    let r = post("/ui/kes/keys/app-key/rotate", String::new()).await;
    assert_eq!(r.location(), "/ui/kes?done=kes-key-rotated", "{}", r.body);
    assert_eq!(
        cp.services
            .kes
            .describe_key("app-key")
            .unwrap()
            .versions
            .len(),
        2
    );
    let r = post("/ui/kes/keys", "name=app-key".into()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a taken name: {}", r.body);
    let r = post("/ui/kes/keys/app-key/delete", String::new()).await;
    assert_eq!(r.location(), "/ui/kes?done=kes-key-deleted", "{}", r.body);
    assert!(cp.services.kes.describe_key("app-key").is_err());

    // SSH: a user in two groups (a multiple select), a key added, then removed (revoked).
    cp.services
        .ssh
        .create_group(sigil_ssh::keyper::NewGroup {
            cn: "web".into(),
            description: None,
            members: vec![],
        })
        .unwrap();
    let form = "cn=bob&given_name=%3Ci%3EBob%3C%2Fi%3E&sn=Builder&password=correct+horse+battery\
                &groups=web&groups=KeyperAdmins";
    let r = post("/ui/ssh/users", form.into()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-user-created", "{}", r.body);
    let key = sigil_ssh::SoftwareCa::generate(sigil_ssh::CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh();
    let form = format!("username=bob&name=laptop&key={}&groups=web", enc(&key));
    let r = post("/ui/ssh/keys", form).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-key-added", "{}", r.body);
    let caller = sigil_controlplane::services::ssh::Caller::Admin;
    let bob = cp.services.ssh.get_user(&caller, "bob").unwrap();
    assert_eq!(bob.member_ofs.len(), 2, "{bob:?}");
    assert_eq!(bob.ssh_public_keys.len(), 1);
    let page = send(&cp, "GET", "/ui/ssh", &admin, None).await;
    assert!(page.body.contains("&lt;i&gt;Bob&lt;/i&gt;"), "escaped");
    assert!(!page.body.contains("<i>Bob"));
    let krl = cp.services.ssh.krl().unwrap().version;
    let keyid = bob.ssh_public_keys[0].keyid.clone().unwrap();
    let path = format!("/ui/ssh/users/bob/keys/{keyid}/revoke");
    let r = post(&path, String::new()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-key-revoked", "{}", r.body);
    assert_eq!(cp.services.ssh.krl().unwrap().version, krl + 1);
    let r = post(
        "/ui/ssh/keys",
        format!("username=bob&name=again&key={}", enc(&key)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a revoked key: {}", r.body);

    // API keys: shown once.
    let r = post("/ui/apikeys", "name=ci&role=viewer&expires_days=30".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let at = r.body.find("sgk_").expect("the key, once");
    let shown = &r.body[at..at + 4 + 16 + 1 + 64];
    let list = send(&cp, "GET", "/ui/apikeys", &admin, None).await;
    assert!(!list.body.contains(shown) && list.body.contains(">ci<"));

    // A viewer reads the key service and SSH pages without their buttons, and is refused
    // the API keys page and every change.
    let viewer = sign_in(&cp, shown).await;
    let kes = send(&cp, "GET", "/ui/kes", &viewer, None).await;
    assert_eq!(kes.status, StatusCode::OK);
    assert!(!kes.body.contains("Create key"), "{}", kes.body);
    let ssh = send(&cp, "GET", "/ui/ssh", &viewer, None).await;
    assert!(ssh.status == StatusCode::OK && !ssh.body.contains("Add key"));
    let r = send(&cp, "GET", "/ui/apikeys", &viewer, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let form = format!("csrf={}&name=nope", kes.csrf());
    let r = send(&cp, "POST", "/ui/kes/keys", &viewer, Some(&form)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(cp.services.kes.describe_key("nope").is_err());
}

/// Creating CAs from the console (a root, an intermediate under it; a refusal keeps the form
/// but never the private key) and editing an issuer's policy.
#[tokio::test]
async fn cas_are_created_and_their_policy_edited() {
    let cp = cp();
    let admin = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/cas/new", &admin, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let post = |path: String, form: String| {
        let (cp, admin, csrf) = (&cp, admin.clone(), csrf.clone());
        async move {
            let form = format!("csrf={csrf}&{form}");
            send(cp, "POST", &path, &admin, Some(&form)).await
        }
    };

    let root = "kind=root&name=Console+Root&subject=CN%3DConsole+Root&key_algorithm=ecdsa-p384";
    let r = post("/ui/cas/new".into(), root.into()).await;
    assert_eq!(
        r.location(),
        "/ui/cas/console-root?done=ca-created",
        "{}",
        r.body
    );
    let sub = "kind=intermediate&name=Console+Sub&id=console-sub&subject=CN%3DConsole+Sub\
               &key_algorithm=ecdsa-p256&parent_id=console-root&validity_days=365";
    let r = post("/ui/cas/new".into(), sub.into()).await;
    assert_eq!(r.location(), "/ui/cas/console-sub?done=ca-created");
    let ca = cp.services.issuers.ca("console-sub").unwrap();
    assert_eq!(ca.record.parent_id.as_deref(), Some("console-root"));
    let detail = send(&cp, "GET", "/ui/cas/console-sub", &admin, None).await;
    assert!(detail.body.contains("CN=Console Root"), "the chain");

    // Refused: the reason, the form as typed, no private key echoed.
    let import = "kind=import&name=Imported&certificate=not-a-pem&private_key=SECRET-KEY-MATERIAL";
    let r = post("/ui/cas/new".into(), import.into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("class=\"error\"") && r.body.contains("not-a-pem"));
    assert!(!r.body.contains("SECRET-KEY-MATERIAL"));
    let r = post("/ui/cas/new".into(), "kind=intermediate&name=Orphan".into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Choose the parent CA."));

    // The policy: a validity cap and an allowed list, then cleared.
    let r = post(
        "/ui/cas/console-sub/policy".into(),
        "default_profile=&allowed_profiles=default&max_validity_days=90".into(),
    )
    .await;
    assert_eq!(
        r.location(),
        "/ui/cas/console-sub?done=policy-saved",
        "{}",
        r.body
    );
    let s = cp.services.issuers.issuer_settings("console-sub").unwrap();
    assert_eq!(s.max_validity_days, Some(90));
    assert_eq!(s.allowed_profiles, Some(vec!["default".to_string()]));
    let r = post(
        "/ui/cas/console-sub/policy".into(),
        "default_profile=&max_validity_days=".into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let s = cp.services.issuers.issuer_settings("console-sub").unwrap();
    assert_eq!((s.max_validity_days, s.allowed_profiles), (None, None));
    let r = post(
        "/ui/cas/console-sub/policy".into(),
        "max_validity_days=ninety".into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The CRL regenerated now: in the background, then among the CA's CRL generations.
    let before = cp.services.issuers.current_crl("console-sub").unwrap();
    let r = post("/ui/cas/console-sub/crl".into(), String::new()).await;
    assert_eq!(
        r.location(),
        "/ui/cas/console-sub?done=crl-started",
        "{}",
        r.body
    );
    let mut page = String::new();
    for _ in 0..100 {
        page = send(&cp, "GET", "/ui/cas/console-sub", &admin, None)
            .await
            .body;
        if !page.contains("Regenerating the CRL") && page.contains("<td>console</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(page.contains("<td>console</td>"), "{page}");
    let after = cp
        .services
        .issuers
        .current_crl("console-sub")
        .unwrap()
        .unwrap();
    assert!(before.is_none_or(|b| after.number > b.number));
    assert!(audit_records(&cp)
        .iter()
        .any(|a| a.event.action == "crl.regenerate" && a.event.resource_id == "console-sub"));
    let r = post("/ui/cas/nope/crl".into(), String::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// The certificates list pages by key (each page a seek after the last one's key), and a
/// filter that matches few certificates stops within its time budget and goes on from there.
#[tokio::test]
async fn the_certificate_list_pages_by_key_and_searches_within_a_budget() {
    use sigil_controlplane::services::certificates::{CertFilter, IssueRequest};

    let cp = cp();
    let mut ids = Vec::new();
    for i in 0..30 {
        let c = cp
            .services
            .certificates
            .issue(IssueRequest {
                issuer_id: "demo".into(),
                csr: est_client::csr_der(&format!("CN=host-{i}.example")),
                validity_days: None,
                profile: None,
            })
            .unwrap();
        ids.push(c.id);
    }
    let admin = sign_in(&cp, ADMIN).await;
    let mut seen = Vec::new();
    let mut path = "/ui/certificates".to_string();
    for page in 1.. {
        let r = send(&cp, "GET", &path, &admin, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen.extend(
            ids.iter()
                .filter(|id| r.body.contains(&format!(">{id}<")))
                .cloned(),
        );
        assert!(
            r.body.contains(&format!("Page {page} of 2 · 30 in all")),
            "{}",
            r.body
        );
        match r
            .body
            .split("rel=\"next\"")
            .next()
            .and_then(|b| b.rsplit("href=\"").next())
        {
            Some(next) if r.body.contains("rel=\"next\"") => {
                path = next[..next.find('"').unwrap()].replace("&amp;", "&");
            }
            _ => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every certificate once, over two pages");
    // Filters by profile and expiry (the API's): none expires before 2000, all use `default`.
    let r = send(
        &cp,
        "GET",
        "/ui/certificates?expires_before=2000-01-01",
        &admin,
        None,
    )
    .await;
    assert!(r.body.contains("No certificate matches."), "{}", r.body);
    let r = send(
        &cp,
        "GET",
        "/ui/certificates?profile=default&expires_after=2000-01-01",
        &admin,
        None,
    )
    .await;
    assert!(r.body.contains(&format!(">{}<", ids[0])), "{}", r.body);
    assert!(r.body.contains("Revoke all matching"));
    let r = send(
        &cp,
        "GET",
        "/ui/certificates?expires_after=soon",
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A search with no time to spare: one certificate looked at per call, and going on from
    // where it stopped finds every match once.
    let filter = CertFilter {
        search: Some("host-1".into()),
        ..CertFilter::default()
    };
    let (mut found, mut after, mut calls) = (Vec::new(), None::<Vec<u8>>, 0);
    loop {
        let p = cp
            .services
            .certificates
            .page_after(&filter, after.as_deref(), 25, std::time::Duration::ZERO)
            .unwrap();
        calls += 1;
        assert!(p.scanned <= 1 && (p.out_of_time || p.next.is_none()));
        found.extend(p.certs.into_iter().map(|c| c.subject));
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    found.sort();
    let mut want: Vec<String> = (0..30)
        .map(|i| format!("CN=host-{i}.example"))
        .filter(|s| s.contains("host-1"))
        .collect();
    want.sort();
    assert_eq!(found, want);
    assert!(calls >= 30, "{calls}");
}

/// Bulk revocation from the list's filter: a preview (nothing without a filter), then a job
/// whose page shows its progress and outcome; every certificate revoked and audited.
#[tokio::test]
async fn bulk_revocation_is_previewed_then_followed() {
    use sigil_controlplane::services::certificates::IssueRequest;

    let cp = cp();
    for name in ["bulk-1", "bulk-2", "bulk-3", "keep-1"] {
        cp.services
            .certificates
            .issue(IssueRequest {
                issuer_id: "demo".into(),
                csr: est_client::csr_der(&format!("CN={name}.example")),
                validity_days: None,
                profile: None,
            })
            .unwrap();
    }
    let admin = sign_in(&cp, ADMIN).await;
    let r = send(&cp, "GET", "/ui/certificates/bulk", &admin, None).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "no filter, no bulk revocation"
    );
    let list = send(&cp, "GET", "/ui/certificates?q=bulk-", &admin, None).await;
    assert!(
        list.body.contains("/ui/certificates/bulk?q=bulk-"),
        "the list links its preview"
    );
    let preview = send(&cp, "GET", "/ui/certificates/bulk?q=bulk-", &admin, None).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("<strong>3</strong> would be revoked"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("CN=bulk-2.example") && !preview.body.contains("keep-1"));

    let form = format!("csrf={}&q=bulk-&reason=superseded", preview.csrf());
    let r = send(&cp, "POST", "/ui/certificates/bulk", &admin, Some(&form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let job = r.location().to_string();
    assert!(job.starts_with("/ui/certificates/bulk/"), "{job}");
    let mut page = String::new();
    for _ in 0..100 {
        page = send(&cp, "GET", &job, &admin, None).await.body;
        if page.contains("Done:") {
            break;
        }
        assert!(page.contains("<progress"), "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        page.contains("Done: 3 matched, 3 revoked, 0 skipped, 0 failed."),
        "{page}"
    );
    let revoked = cp
        .services
        .certificates
        .find_certs(
            &sigil_controlplane::services::certificates::CertFilter {
                status: Some(sigil_controlplane::services::certificates::StatusFilter::Revoked),
                ..Default::default()
            },
            1,
            10,
        )
        .unwrap()
        .1;
    assert_eq!(revoked, 3);
    let summary = audit_records(&cp)
        .into_iter()
        .find(|a| a.event.action == "certificate.bulk_revoke")
        .expect("the summary record");
    assert_eq!(summary.event.actor, "bearer:admin");
    let r = send(&cp, "GET", "/ui/certificates/bulk/unknown", &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
