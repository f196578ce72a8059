//! Hosts, groups and their members, and snapshots of the SSH state.

use super::*;

#[test]
fn hosts_get_their_group_and_host_certificates() {
    let s = setup();
    group(&s.ssh, "AllHosts");
    let line = fresh_key();
    let head = s.cx.db().head();
    let (h, _) = s
        .ssh
        .create_host(NewHost {
            cn: "web1.example.org".into(),
            description: None,
            member_ofs: vec![format!("cn=AllHosts,ou=groups,{BASE}")],
            principal: Some("web1, 192.0.2.7".into()),
            duration: Some(2),
            duration_unit: Some(sigil_ssh::keyper::DurationUnit::Weeks),
            ssh_public_certs: vec![cert(&line, &[])],
        })
        .unwrap();
    assert_eq!(h.dn, format!("cn=web1.example.org,ou=Hosts,{BASE}"));
    assert_eq!(h.description, "web1.example.org");
    assert_eq!(
        h.member_ofs,
        [
            format!("cn=AllHosts,ou=groups,{BASE}"),
            format!("cn=web1.example.org,ou=groups,{BASE}")
        ]
    );
    let info = CertInfo::parse(h.ssh_public_certs[0].cert.as_deref().unwrap()).unwrap();
    assert_eq!(info.kind, CertKind::Host);
    assert_eq!(info.principals, ["web1.example.org", "web1", "192.0.2.7"]);
    assert_eq!(info.ca_blob, s.ssh.host_ca.blob);
    assert!(info.key_id.starts_with("sigil:host:web1.example.org:"));
    let changes = changes_after(&s.cx, head);
    assert!(matches!(&changes[0], Change::SshGroupPut(g) if g.name == "web1.example.org"));
    assert!(
        matches!(&changes[1], Change::SshHostPut(st) if st.certs.len() == 1 && st.groups.len() == 2)
    );
    let group_view = s.ssh.get_group("web1.example.org").unwrap();
    assert_eq!(group_view.description, "web1.example.org Autocreated Group");
    assert_eq!(
        group_view.members,
        [format!("cn=web1.example.org,ou=Hosts,{BASE}")]
    );
    assert!(matches!(
        s.ssh.create_host(NewHost {
            cn: "web1.example.org".into(),
            description: None,
            member_ofs: vec![],
            principal: None,
            duration: None,
            duration_unit: None,
            ssh_public_certs: vec![],
        }),
        Err(SshError::HostExists(_))
    ));

    // A user key scoped to the host's own group; deleting the host revokes its certificate,
    // drops the group and strips it from the key.
    let mut u = new_user("alice", &[]);
    u.ssh_public_keys = vec![key(&fresh_key(), &["web1.example.org", "AllHosts"])];
    s.ssh.create_user(u).unwrap();
    let upd = HostUpdate {
        description: Some("front end".into()),
        ..HostUpdate::default()
    };
    assert_eq!(
        s.ssh
            .update_host("web1.example.org", upd)
            .unwrap()
            .0
            .description,
        "front end"
    );
    let head = s.cx.db().head();
    s.ssh.delete_host("web1.example.org").unwrap();
    let changes = changes_after(&s.cx, head);
    assert!(matches!(&changes[0], Change::SshKrlPut(_)));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::SshUserPut(u) if u.keys[0].host_groups == ["AllHosts"])));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::SshGroupDelete { name } if name == "web1.example.org")));
    assert!(
        matches!(changes.last(), Some(Change::SshHostDelete { hostname }) if hostname == "web1.example.org")
    );
    assert!(current_krl(&s.ssh).revokes_serial(&s.ssh.host_ca.blob, info.serial));
    assert_eq!(
        s.ssh.get_host("web1.example.org").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn groups_and_their_members() {
    let s = setup();
    s.ssh.create_user(new_user("alice", &[])).unwrap();
    s.ssh.create_user(new_user("bob", &[])).unwrap();
    s.ssh
        .create_host(NewHost {
            cn: "db1".into(),
            description: None,
            member_ofs: vec![],
            principal: None,
            duration: None,
            duration_unit: None,
            ssh_public_certs: vec![],
        })
        .unwrap();
    let head = s.cx.db().head();
    let (g, _) = s
        .ssh
        .create_group(NewGroup {
            cn: "dev_servers".into(),
            description: Some("dev".into()),
            members: vec![
                format!("cn=db1,ou=Hosts,{BASE}"),
                format!("cn=alice,ou=people,{BASE}"),
            ],
        })
        .unwrap();
    assert_eq!(g.dn, format!("cn=dev_servers,ou=groups,{BASE}"));
    assert_eq!(
        g.members,
        [
            format!("cn=alice,ou=people,{BASE}"),
            format!("cn=db1,ou=Hosts,{BASE}")
        ]
    );
    let changes = changes_after(&s.cx, head);
    assert!(matches!(&changes[0], Change::SshGroupPut(g) if g.name == "dev_servers"));
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(matches!(
        s.ssh.create_group(NewGroup {
            cn: "dev_servers".into(),
            description: None,
            members: vec![]
        }),
        Err(SshError::GroupExists(_))
    ));
    assert!(matches!(
        s.ssh.create_group(NewGroup {
            cn: "x".into(),
            description: None,
            members: vec![format!("cn=Manager,{BASE}")]
        }),
        Err(SshError::UnknownMember(_))
    ));
    // Members replaced: bob in, alice out.
    let (g, _) = s
        .ssh
        .update_group(
            "dev_servers",
            GroupUpdate {
                description: None,
                members: Some(vec![format!("cn=bob,ou=people,{BASE}"), "db1".into()]),
            },
        )
        .unwrap();
    assert_eq!(
        g.members,
        [
            format!("cn=bob,ou=people,{BASE}"),
            format!("cn=db1,ou=Hosts,{BASE}")
        ]
    );
    assert!(s
        .ssh
        .get_user(&Caller::Admin, "alice")
        .unwrap()
        .member_ofs
        .is_empty());
    // The admin group stays; others go, and leave their members.
    assert!(matches!(
        s.ssh.delete_group("KeyperAdmins"),
        Err(SshError::AdminGroup(_))
    ));
    s.ssh.delete_group("dev_servers").unwrap();
    assert!(s
        .ssh
        .get_user(&Caller::Admin, "bob")
        .unwrap()
        .member_ofs
        .is_empty());
    let names: Vec<String> = s
        .ssh
        .list_groups()
        .unwrap()
        .into_iter()
        .map(|g| g.cn)
        .collect();
    assert_eq!(names, ["KeyperAdmins", "db1"]);
}

#[test]
fn a_snapshot_carries_the_ssh_state_without_secrets() {
    let s = setup();
    group(&s.ssh, "web");
    let mut u = new_user("alice", &["web"]);
    u.ssh_public_keys = vec![key(&fresh_key(), &["web"])];
    s.ssh.create_user(u).unwrap();
    let rep = Replication::new(s.cx.clone());
    let mut items = Vec::new();
    rep.snapshot(&mut |f| {
        if let Frame::SnapshotItem(c) = f {
            items.push(c);
        }
        true
    })
    .unwrap();
    let count = |p: &dyn Fn(&Change) -> bool| items.iter().filter(|c| p(c)).count();
    assert_eq!(count(&|c| matches!(c, Change::SshCaPut(_))), 2);
    assert_eq!(count(&|c| matches!(c, Change::SshKrlPut(_))), 1);
    assert_eq!(count(&|c| matches!(c, Change::SshGroupPut(_))), 2);
    assert_eq!(
        count(&|c| matches!(c, Change::SshUserPut(u) if u.keys.len() == 1)),
        1
    );
    let bytes = postcard::to_stdvec(&items).unwrap();
    let private =
        s.cx.secret(&crate::db::secrets::SecretName::ssh_ca_key(
            sigil_shared::replication::SshCaKind::User,
        ))
        .unwrap()
        .unwrap();
    assert!(!bytes
        .windows(40)
        .any(|w| private.windows(40).any(|p| p == w)));
}
