//! The web console's SSH pages in process: Keyper users signing in to their own keys, and the
//! directory for administrators (hosts, groups, locking and deleting users). The client:
//! support/console_client.rs.

#[path = "support/console_client.rs"]
mod console_client;

use axum::http::StatusCode;
use console_client::*;

/// A Keyper user signs in with their password: outside the admin group they see and change
/// only their own keys; a locked account ends the session; an admin-group member gets the
/// SSH pages. Client certificates need TLS: tests/tests/console.rs.
#[tokio::test]
async fn keyper_users_sign_in_to_their_own_keys() {
    use sigil_controlplane::services::ssh::Caller;
    use sigil_ssh::keyper::{NewUser, UserUpdate};

    let cp = cp();
    let user = |name: &str, groups: &[&str]| -> NewUser {
        serde_json::from_value(serde_json::json!({
            "cn": name, "userPassword": "correct horse battery",
            "confirmPassword": "correct horse battery", "givenName": name, "sn": "Test",
            "memberOfs": groups.iter().map(|g| format!("cn={g},ou=groups,dc=sigil,dc=local")).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    cp.services.ssh.create_user(user("carol", &[])).unwrap();
    cp.services.ssh.create_user(user("dave", &[])).unwrap();
    cp.services
        .ssh
        .create_user(user("erin", &["KeyperAdmins"]))
        .unwrap();

    let r = sign_in_keyper(&cp, "carol", "wrong password!").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("wrong username or password"));
    let r = sign_in_keyper(&cp, "carol", "correct horse battery").await;
    assert_eq!(r.location(), "/ui/ssh", "{}", r.body);
    let (session, _) = r.set_cookie("sigil_session").unwrap();
    let carol = format!("sigil_session={session}");
    let page = send(&cp, "GET", "/ui/ssh", &carol, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>My SSH keys</h1>") && !page.body.contains(">dave<"));
    assert!(!page.body.contains("Create a user"));
    assert_eq!(
        send(&cp, "GET", "/ui/", &carol, None).await.status,
        StatusCode::FORBIDDEN
    );

    let key = sigil_ssh::SoftwareCa::generate(sigil_ssh::CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh();
    let form = format!(
        "csrf={}&username=carol&name=laptop&key={}",
        page.csrf(),
        enc(&key)
    );
    let r = send(&cp, "POST", "/ui/ssh/keys", &carol, Some(&form)).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-key-added", "{}", r.body);
    let form = format!(
        "csrf={}&username=dave&name=x&key={}",
        page.csrf(),
        enc(&key)
    );
    let r = send(&cp, "POST", "/ui/ssh/keys", &carol, Some(&form)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "not someone else's keys");
    let mine = cp.services.ssh.get_user(&Caller::Admin, "carol").unwrap();
    assert_eq!(mine.ssh_public_keys.len(), 1);
    // A certificate signed by the user CA for another key of hers.
    let other = sigil_ssh::SoftwareCa::generate(sigil_ssh::CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh();
    let form = format!(
        "csrf={}&username=carol&name=laptop-cert&key={}&as=cert",
        page.csrf(),
        enc(&other)
    );
    let r = send(&cp, "POST", "/ui/ssh/keys", &carol, Some(&form)).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-cert-signed", "{}", r.body);
    let mine = cp.services.ssh.get_user(&Caller::Admin, "carol").unwrap();
    let cert = &mine.ssh_public_certs[0];
    assert!(
        cert.serial.is_some()
            && cert
                .cert
                .as_deref()
                .is_some_and(|c| c.contains("-cert-v01@openssh.com")),
        "{cert:?}"
    );
    let page = send(&cp, "GET", "/ui/ssh", &carol, None).await;
    assert!(page.body.contains("laptop-cert"), "{}", page.body);
    let signed_in = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action == "console.sign_in")
        .unwrap();
    assert_eq!(signed_in.event.actor, "keyper:carol");
    let added = audit_records(&cp)
        .into_iter()
        .rev()
        .find(|a| a.event.action == "ssh.user.update")
        .unwrap();
    assert_eq!(added.event.actor, "keyper:carol");

    // Locked: the next request signs carol out.
    let lock: UserUpdate =
        serde_json::from_value(serde_json::json!({"accountLocked": true})).unwrap();
    cp.services
        .ssh
        .update_user(&Caller::Admin, "carol", lock)
        .unwrap();
    let r = send(&cp, "GET", "/ui/ssh", &carol, None).await;
    assert_eq!(r.location(), "/ui/login");

    // An admin-group member: the whole directory.
    let r = sign_in_keyper(&cp, "erin", "correct horse battery").await;
    assert_eq!(r.location(), "/ui/", "{}", r.body);
    let (session, _) = r.set_cookie("sigil_session").unwrap();
    let erin = format!("sigil_session={session}");
    let page = send(&cp, "GET", "/ui/ssh", &erin, None).await;
    assert!(page.body.contains(">dave<") && page.body.contains("Create a user"));
}

/// The SSH directory for administrators: hosts and groups added and deleted, a user locked,
/// unlocked and deleted (their key revoked into the KRL).
#[tokio::test]
async fn ssh_hosts_groups_and_users_are_managed() {
    use sigil_controlplane::services::ssh::Caller;

    let cp = cp();
    let admin = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/ssh", &admin, None).await;
    let csrf = page.csrf();
    let post = |path: String, form: String| {
        let (cp, admin, csrf) = (&cp, admin.clone(), csrf.clone());
        async move {
            let form = format!("csrf={csrf}&{form}");
            send(cp, "POST", &path, &admin, Some(&form)).await
        }
    };
    let r = post(
        "/ui/ssh/groups".into(),
        "cn=db&description=databases".into(),
    )
    .await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-group-created", "{}", r.body);
    let r = post(
        "/ui/ssh/hosts".into(),
        "cn=db1.example&description=primary&groups=db".into(),
    )
    .await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-host-created", "{}", r.body);
    let host = cp.services.ssh.get_host("db1.example").unwrap();
    assert!(
        host.member_ofs.iter().any(|g| g.starts_with("cn=db,")),
        "{host:?}"
    );

    let key = sigil_ssh::SoftwareCa::generate(sigil_ssh::CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh();
    let r = post(
        "/ui/ssh/users".into(),
        "cn=frank&given_name=Frank&sn=F&password=correct+horse+battery".into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(
        "/ui/ssh/keys".into(),
        format!("username=frank&name=k&key={}&groups=db", enc(&key)),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The group's members set to frank and the host; a host certificate signed.
    let r = post(
        "/ui/ssh/groups/db/members".into(),
        "members=cn%3Dfrank%2Cou%3Dpeople%2Cdc%3Dsigil%2Cdc%3Dlocal\
         &members=cn%3Ddb1.example%2Cou%3DHosts%2Cdc%3Dsigil%2Cdc%3Dlocal"
            .into(),
    )
    .await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-group-members", "{}", r.body);
    let group = cp.services.ssh.get_group("db").unwrap();
    assert_eq!(group.members.len(), 2, "{group:?}");
    let r = post(
        "/ui/ssh/groups/db/members".into(),
        "members=cn%3Dnobody%2Cou%3Dpeople%2Cdc%3Dsigil%2Cdc%3Dlocal".into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "an unknown member");
    let host_key = sigil_ssh::SoftwareCa::generate(sigil_ssh::CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh();
    let r = post(
        "/ui/ssh/hosts/db1.example/certs".into(),
        format!("name=host&key={}", enc(&host_key)),
    )
    .await;
    assert_eq!(
        r.location(),
        "/ui/ssh?done=ssh-host-cert-signed",
        "{}",
        r.body
    );
    let host = cp.services.ssh.get_host("db1.example").unwrap();
    assert!(
        host.ssh_public_certs[0]
            .cert
            .as_deref()
            .is_some_and(|c| c.starts_with("ssh-ed25519-cert-v01@openssh.com")),
        "{host:?}"
    );

    let r = post("/ui/ssh/users/frank/lock".into(), "locked=true".into()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-user-locked");
    assert!(
        cp.services
            .ssh
            .get_user(&Caller::Admin, "frank")
            .unwrap()
            .account_locked
    );
    let page = send(&cp, "GET", "/ui/ssh", &admin, None).await;
    assert!(page.body.contains("aria-label=\"Unlock frank\""));
    let r = post("/ui/ssh/users/frank/lock".into(), "locked=false".into()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-user-unlocked");

    let krl = cp.services.ssh.krl().unwrap().version;
    let r = post("/ui/ssh/users/frank/delete".into(), String::new()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-user-deleted");
    assert!(cp.services.ssh.get_user(&Caller::Admin, "frank").is_err());
    assert_eq!(
        cp.services.ssh.krl().unwrap().version,
        krl + 1,
        "the key revoked"
    );

    let r = post("/ui/ssh/hosts/db1.example/delete".into(), String::new()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-host-deleted");
    let r = post("/ui/ssh/groups/db/delete".into(), String::new()).await;
    assert_eq!(r.location(), "/ui/ssh?done=ssh-group-deleted");
    let r = post("/ui/ssh/groups/KeyperAdmins/delete".into(), String::new()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the admin group stays");
}
