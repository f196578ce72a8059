//! Keyper logins, tokens, and what a user may change about themselves.

use super::*;

fn login(
    ssh: &Ssh,
    user: &str,
    password: &str,
) -> Result<sigil_ssh::keyper::LoginResponse, SshError> {
    ssh.login(&LoginRequest {
        username: user.into(),
        password: password.into(),
    })
}

#[test]
fn logins_tokens_and_what_a_user_may_change() {
    let s = setup();
    group(&s.ssh, "web");
    group(&s.ssh, "db");
    s.ssh
        .create_user(new_user("admin", &["KeyperAdmins"]))
        .unwrap();
    s.ssh.create_user(new_user("alice", &["web"])).unwrap();
    s.ssh.create_user(new_user("bob", &["web"])).unwrap();

    let r = login(&s.ssh, "admin", PASSWORD).unwrap();
    assert_eq!(r.user.cn, "admin");
    let who = s.ssh.authenticate(&r.access_token).unwrap().unwrap();
    assert!(who.admin);
    assert!(
        s.ssh.authenticate(&r.refresh_token).unwrap().is_none(),
        "not an access token"
    );
    let fresh = s.ssh.refresh(&r.refresh_token).unwrap();
    assert_eq!(s.ssh.authenticate(&fresh.access_token).unwrap(), Some(who));
    assert!(s.ssh.refresh(&r.access_token).is_err());

    let a = login(&s.ssh, "alice", PASSWORD).unwrap();
    let alice = s.ssh.authenticate(&a.access_token).unwrap().unwrap();
    assert!(!alice.admin);
    let me = Caller::User("alice".into());
    // Their own keys, with their own groups: yes. Anything else: no.
    let ok = UserUpdate {
        ssh_public_keys: Some(vec![key(&fresh_key(), &["web"])]),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&me, "alice", ok).unwrap();
    for bad in [
        UserUpdate {
            ssh_public_keys: Some(vec![key(&fresh_key(), &["db"])]),
            ..UserUpdate::default()
        },
        UserUpdate {
            member_ofs: Some(vec![format!("cn=KeyperAdmins,ou=groups,{BASE}")]),
            ..UserUpdate::default()
        },
        UserUpdate {
            principal: Some("root".into()),
            ..UserUpdate::default()
        },
        UserUpdate {
            account_locked: Some(true),
            ..UserUpdate::default()
        },
    ] {
        let e = s.ssh.update_user(&me, "alice", bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    }
    // Unchanged values of those fields are fine (a client sending the whole record).
    let same = UserUpdate {
        member_ofs: Some(vec![format!("cn=web,ou=groups,{BASE}")]),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&me, "alice", same).unwrap();
    assert_eq!(
        s.ssh.get_user(&me, "bob").unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        s.ssh
            .update_user(&me, "bob", UserUpdate::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );

    // Changing the password ends older sessions.
    let change = UserUpdate {
        user_password: Some("a brand new password".into()),
        confirm_password: Some("a brand new password".into()),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&me, "alice", change).unwrap();
    assert!(s.ssh.authenticate(&a.access_token).unwrap().is_none());
    assert!(s.ssh.refresh(&a.refresh_token).is_err());
    assert!(login(&s.ssh, "alice", PASSWORD).is_err());
    let a2 = login(&s.ssh, "alice", "a brand new password").unwrap();

    // Locking refuses the login and every token.
    let lock = UserUpdate {
        account_locked: Some(true),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&Caller::Admin, "alice", lock).unwrap();
    assert!(s.ssh.authenticate(&a2.access_token).unwrap().is_none());
    let e = login(&s.ssh, "alice", "a brand new password").unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (ErrorKind::Unauthorized, "account is locked")
    );

    // Wrong password and unknown user: the same answer, audited with the actor.
    let actor = Actor {
        id: "keyper:bob".into(),
        actor_type: "User",
        source: "192.0.2.1:5".into(),
    };
    let e = with_actor(actor, || login(&s.ssh, "bob", "not the password")).unwrap_err();
    assert_eq!(e.to_string(), crate::services::ssh::auth::BAD_LOGIN);
    assert_eq!(
        login(&s.ssh, "nobody", "x").unwrap_err().to_string(),
        crate::services::ssh::auth::BAD_LOGIN
    );
    let (records, _) =
        s.cx.audit_log()
            .list(1, u64::MAX, 1, 1000, &|_| true)
            .unwrap();
    let failed = records
        .iter()
        .find(|r| r.event.action == "ssh.login" && r.event.actor == "keyper:bob")
        .unwrap();
    assert!(!failed.event.success);
    assert_eq!(failed.event.source, "192.0.2.1:5");
    assert_eq!(
        failed.event.details,
        json!({"reason": "password"}).to_string()
    );

    // After 5 failures (the default) bob is limited, even with the right password.
    for _ in 0..4 {
        let _ = login(&s.ssh, "bob", "not the password");
    }
    let e = login(&s.ssh, "bob", PASSWORD).unwrap_err();
    assert!(matches!(e, SshError::RateLimited(_)), "{e}");
}
