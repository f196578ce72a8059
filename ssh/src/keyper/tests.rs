//! The JSON of Keyper's API documentation, as written there.

use super::*;
use serde_json::{json, Value};

const BASE: &str = "dc=keyper,dc=example,dc=org";
const KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1KtJpPn6W9W5WgPU8+eYuuSKKyHA+Z62mVLYp50Ch/MMTUSxcFF/V1H81CStU4OrPv/pUxpHtqSDeTCMbVtTmP0Bbc5V7rCYQVgfhTB7CzKAwnfJSfJGY/JoJLCrC4kt40PMwyXTHiPUkrs4tOHiv7GIT4aZI/wmVPrg8x6oBFRgfCl1TQVgeSQl2kAnjkUHEsq2CsnZR9mKIJ31CWzeHLotYHNg82jmgylCWUsl6Pd5eigObUtk0j6Vnjn7FUKwSmffhEPInU1K+IzYMdFe1QElTSO7X+IOjedQZ2Y8nt3U9N9WPyd7FK13Sn8Ij22CIMmTuvfNXv/H4ja9vF0Ob";
const FP: &str = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20";

/// `POST /users`, the documentation's example (with `accountLocked` as a string).
#[test]
fn new_user_example() {
    let body = json!({
        "cn": "judy",
        "userPassword": "keyper",
        "confirmPassword": "keyper",
        "mail": "judy@dbsentry.com",
        "givenName": "Judy",
        "sn": "Parker",
        "displayName": "Judy Parker",
        "accountLocked": "false",
        "memberOfs": ["cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"],
        "sshPublicKeys": [{
            "name": "demo",
            "dateExpire": "20201204",
            "hostGroups": ["cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"],
            "key": KEY,
            "fingerprint": FP
        }]
    });
    let u: NewUser = serde_json::from_value(body).unwrap();
    assert_eq!(u.cn, "judy");
    assert_eq!(u.account_locked, Some(false));
    assert_eq!(u.principal, None);
    assert_eq!(u.duration, None);
    let k = &u.ssh_public_keys[0];
    assert_eq!((k.name.as_str(), k.key.as_str()), ("demo", KEY));
    assert_eq!(k.keyid, None);
    assert_eq!(
        parse_date_expire(k.date_expire.as_deref().unwrap()),
        Some(1_607_126_400)
    );
    assert_eq!(
        Dn::parse_cn(&k.host_groups[0], OU_GROUPS, BASE),
        Some("demo_servers")
    );
    // The submitted key and fingerprint agree with Sigil's parser.
    assert_eq!(
        crate::key::ParsedKey::parse(&k.key).unwrap().fingerprint,
        k.fingerprint
    );

    // The documented fields, in the other accepted forms.
    let u: NewUser = serde_json::from_value(json!({
        "cn": "x", "userPassword": "p", "confirmPassword": "p", "givenName": "X", "sn": "Y",
        "accountLocked": "True", "principal": "x,admin", "duration": "2", "durationUnit": "Weeks",
        "sshPublicCerts": [{"name": "c", "Key": KEY, "hostGroups": ["AllHosts"]}]
    }))
    .unwrap();
    assert_eq!(u.account_locked, Some(true));
    assert_eq!(
        split_principals(u.principal.as_deref().unwrap()),
        ["x", "admin"]
    );
    assert_eq!(
        duration_seconds(u.duration.unwrap(), u.duration_unit.unwrap()),
        Some(1_209_600)
    );
    assert_eq!(u.ssh_public_certs[0].key, KEY);

    // Required fields and types are enforced.
    for bad in [
        json!({"cn": "x"}),
        json!({"cn": "x", "userPassword": "p", "confirmPassword": "p", "givenName": "X", "sn": "Y", "accountLocked": "maybe"}),
        json!({"cn": "x", "userPassword": "p", "confirmPassword": "p", "givenName": "X", "sn": "Y", "duration": "-1"}),
        json!({"cn": "x", "userPassword": "p", "confirmPassword": "p", "givenName": "X", "sn": "Y", "durationUnit": "Years"}),
    ] {
        assert!(
            serde_json::from_value::<NewUser>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

/// `GET /users/{username}` as documented: the same JSON back from `UserView`.
#[test]
fn user_view_example() {
    let doc = json!({
        "accountLocked": false,
        "cn": "alice",
        "displayName": "Alice Parker",
        "dn": "cn=alice,ou=people,dc=keyper,dc=example,dc=org",
        "givenName": "Alice",
        "mail": "alice@dbsentry.com",
        "memberOfs": ["cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"],
        "sn": "Parker",
        "sshPublicKeys": [{
            "dateExpire": "20201204",
            "hostGroups": ["cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"],
            "key": KEY
        }],
        "uid": "alice"
    });
    let v: UserView = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(v.dn, Dn::user(BASE, "alice"));
    assert_eq!(serde_json::to_value(&v).unwrap(), doc);

    // The admin of the list has no mail and no keys: neither field is written.
    let admin = json!({
        "accountLocked": false, "cn": "admin", "displayName": "admin",
        "dn": "cn=admin,ou=people,dc=keyper,dc=example,dc=org", "givenName": "admin",
        "memberOfs": ["cn=KeyperAdmins,ou=groups,dc=keyper,dc=example,dc=org"],
        "sn": "admin", "uid": "admin"
    });
    let v: UserView = serde_json::from_value(admin.clone()).unwrap();
    assert_eq!(serde_json::to_value(&v).unwrap(), admin);
}

#[test]
fn user_update_example() {
    let u: UserUpdate = serde_json::from_value(json!({
        "mail": "judy.parker@dbsentry.com",
        "memberOfs": [
            "cn=KeyperAdmins,ou=groups,dc=keyper,dc=example,dc=org",
            "cn=AllHosts,ou=groups,dc=keyper,dc=example,dc=org"
        ],
        "sshPublicKeys": [
            {"name": "demo2", "dateExpire": "20201204", "hostGroups": ["cn=AllHosts,ou=groups,dc=keyper,dc=example,dc=org"], "key": KEY, "fingerprint": FP},
            {"keyid": "17", "name": "demo"}
        ]
    }))
    .unwrap();
    assert_eq!(u.mail.as_deref(), Some("judy.parker@dbsentry.com"));
    assert_eq!(u.member_ofs.as_ref().unwrap().len(), 2);
    assert_eq!(u.given_name, None);
    assert_eq!(u.account_locked, None);
    let keys = u.ssh_public_keys.unwrap();
    assert_eq!(keys[0].keyid, None);
    assert_eq!(keys[1].keyid.as_deref(), Some("17")); // revoke this one
    assert_eq!(u.ssh_public_certs, None);
    let empty: UserUpdate = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, UserUpdate::default());
}

#[test]
fn hosts_and_groups() {
    let host = json!({
        "cn": "mavrix2",
        "description": "mavrix2",
        "dn": "cn=mavrix2,ou=Hosts,dc=keyper,dc=example,dc=org",
        "memberOfs": [
            "cn=mavrix2,ou=groups,dc=keyper,dc=example,dc=org",
            "cn=AllHosts,ou=groups,dc=keyper,dc=example,dc=org",
            "cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"
        ]
    });
    let v: HostView = serde_json::from_value(host.clone()).unwrap();
    assert_eq!(v.dn, Dn::host(BASE, "mavrix2"));
    assert_eq!(serde_json::to_value(&v).unwrap(), host);
    let n: NewHost =
        serde_json::from_value(json!({"cn": "mavrix1", "description": "mavrix1"})).unwrap();
    assert_eq!(
        (n.cn.as_str(), n.description.as_deref()),
        ("mavrix1", Some("mavrix1"))
    );
    let u: HostUpdate =
        serde_json::from_value(json!({"description": "updated description for mavrix1"})).unwrap();
    assert_eq!(
        u.description.as_deref(),
        Some("updated description for mavrix1")
    );
    assert_eq!(u.ssh_public_certs, None);

    let group = json!({
        "cn": "demo_servers",
        "description": "demo_servers",
        "dn": "cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org",
        "members": [
            "cn=mavrix2,ou=Hosts,dc=keyper,dc=example,dc=org",
            "cn=alice,ou=people,dc=keyper,dc=example,dc=org"
        ]
    });
    let g: GroupView = serde_json::from_value(group.clone()).unwrap();
    assert_eq!(serde_json::to_value(&g).unwrap(), group);
    assert_eq!(Dn::parse_cn(&g.members[0], OU_HOSTS, BASE), Some("mavrix2"));
    assert_eq!(Dn::parse_cn(&g.members[1], OU_PEOPLE, BASE), Some("alice"));
    let n: NewGroup = serde_json::from_value(json!({
        "cn": "dev_servers", "description": "dev_servers",
        "members": ["cn=mavrix1,ou=Hosts,dc=keyper,dc=example,dc=org"]
    }))
    .unwrap();
    assert_eq!(n.members.len(), 1);
    let u: GroupUpdate = serde_json::from_value(json!({"description": "d"})).unwrap();
    assert_eq!((u.description.as_deref(), u.members), (Some("d"), None));
}

#[test]
fn login() {
    let r: LoginRequest =
        serde_json::from_value(json!({"username": "alice", "password": "success."})).unwrap();
    assert_eq!(r.username, "alice");
    assert!(!format!("{r:?}").contains("success."));
    let resp = LoginResponse {
        access_token: "a.b.c".into(),
        refresh_token: "d.e.f".into(),
        user: UserView {
            account_locked: false,
            cn: "alice".into(),
            display_name: Some("Alice Parker".into()),
            dn: Dn::user("dc=dbsentry,dc=com", "alice"),
            given_name: "Alice".into(),
            mail: Some("alice@dbsentry.com".into()),
            member_ofs: vec![Dn::group("dc=dbsentry,dc=com", "KeyperAdmins")],
            sn: "Parker".into(),
            uid: "alice".into(),
            ssh_public_keys: Vec::new(),
            ssh_public_certs: Vec::new(),
            principal: None,
            duration: None,
            duration_unit: None,
        },
    };
    let v: Value = serde_json::to_value(&resp).unwrap();
    assert_eq!(v["access_token"], "a.b.c");
    assert_eq!(v["refresh_token"], "d.e.f");
    assert_eq!(v["cn"], "alice");
    assert_eq!(v["dn"], "cn=alice,ou=people,dc=dbsentry,dc=com");
    assert_eq!(
        v["memberOfs"][0],
        "cn=KeyperAdmins,ou=groups,dc=dbsentry,dc=com"
    );
    assert_eq!(serde_json::from_value::<LoginResponse>(v).unwrap(), resp);
    let r = RefreshResponse {
        access_token: "x".into(),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"access_token": "x"})
    );
}

#[test]
fn principals_strings() {
    assert_eq!(split_principals(" a, b ,,c "), ["a", "b", "c"]);
    assert!(split_principals("").is_empty());
    assert_eq!(join_principals(&split_principals("a,b")), "a,b");
}

#[test]
fn debug_never_shows_passwords() {
    let new: NewUser = serde_json::from_value(json!({
        "cn": "alice", "userPassword": "pw-secret-1234", "confirmPassword": "pw-secret-1234",
        "givenName": "Alice", "sn": "Liddell"
    }))
    .unwrap();
    let update: UserUpdate = serde_json::from_value(json!({
        "userPassword": "pw-secret-5678", "confirmPassword": "pw-secret-5678", "sn": "L"
    }))
    .unwrap();
    let login = LoginRequest {
        username: "alice".into(),
        password: "pw-secret-9012".into(),
    };
    for shown in [
        format!("{new:?}"),
        format!("{update:?}"),
        format!("{login:?}"),
    ] {
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert!(
            shown.contains("alice") || shown.contains("\"L\""),
            "{shown}"
        );
    }
}
