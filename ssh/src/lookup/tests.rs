use super::*;
use crate::ca::{CaAlgorithm, CaSigner, SoftwareCa};
use crate::cert::{self, CertKind, CertRequest};
use crate::key::tests::{ED25519, SEED_RSA};
use crate::key::ParsedKey;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

fn entry(line: &str, id: &str, groups: &[&str], expires_at: Option<i64>) -> SshKeyEntry {
    let k = ParsedKey::parse(line).unwrap();
    SshKeyEntry {
        key_id: id.into(),
        name: id.into(),
        openssh: k.openssh,
        fingerprint: k.fingerprint,
        expires_at,
        host_groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn user(keys: Vec<SshKeyEntry>) -> SshUserState {
    SshUserState {
        username: "alice".into(),
        locked: false,
        groups: vec!["demo_servers".into()],
        principals: vec!["alice".into(), "deploy".into()],
        keys,
        certs: Vec::new(),
    }
}

fn groups(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| s.to_string()).collect()
}

#[test]
fn authorized_keys_rules() {
    let u = user(vec![
        entry(ED25519, "ed", &["demo_servers"], None),
        entry(SEED_RSA, "rsa", &["AllHosts"], Some(NOW + 1)),
    ]);
    let ids = |host: &[String], krl: Option<&Krl>, now: i64, u: &SshUserState| -> Vec<String> {
        authorized_keys(u, host, krl, now)
            .map(|k| k.key_id.clone())
            .collect()
    };
    let both = groups(&["demo_servers", "AllHosts"]);
    assert_eq!(ids(&both, None, NOW, &u), ["ed", "rsa"]);
    // Host groups.
    assert_eq!(ids(&groups(&["AllHosts"]), None, NOW, &u), ["rsa"]);
    assert!(ids(&groups(&["other"]), None, NOW, &u).is_empty());
    assert!(ids(&[], None, NOW, &u).is_empty());
    // Expiry: valid while now < expires_at.
    assert_eq!(ids(&both, None, NOW + 1, &u), ["ed"]);
    // KRL by SHA-256.
    let mut krl = Krl::new(1, 0);
    krl.revoke_key(ParsedKey::parse(ED25519).unwrap().sha256);
    assert_eq!(ids(&both, Some(&krl), NOW, &u), ["rsa"]);
    // Locked.
    let mut locked = u.clone();
    locked.locked = true;
    assert!(ids(&both, None, NOW, &locked).is_empty());
    // A key with no host groups is valid nowhere; a broken fingerprint fails closed with a KRL.
    let mut odd = user(vec![entry(ED25519, "ed", &[], None)]);
    assert!(ids(&both, None, NOW, &odd).is_empty());
    odd.keys[0].host_groups = groups(&["AllHosts"]);
    odd.keys[0].fingerprint = "SHA256:broken".into();
    assert_eq!(ids(&both, None, NOW, &odd), ["ed"]);
    assert!(ids(&both, Some(&Krl::new(1, 0)), NOW, &odd).is_empty());
}

#[test]
fn rendering() {
    let a = entry(ED25519, "a", &["g"], None);
    let b = entry(SEED_RSA, "b", &["g"], None);
    assert_eq!(
        render_authorized_keys([&a, &b]),
        format!("{}\n{}\n", a.openssh, b.openssh)
    );
    assert_eq!(render_authorized_keys([]), "");
    // An expiry travels as sshd's `expiry-time` option, in UTC; out-of-range times are
    // written as the nearest representable one (never later than the real expiry).
    let mut exp = a.clone();
    exp.expires_at = Some(NOW);
    assert_eq!(
        render_authorized_keys([&exp, &b]),
        format!(
            "expiry-time=\"20231114221320Z\" {}\n{}\n",
            a.openssh, b.openssh
        )
    );
    for (t, want) in [
        (0, "19700101000000Z"),
        (-5, "19700101000000Z"),
        (MAX_EXPIRY_TIME, "99991231235959Z"),
        (i64::MAX, "99991231235959Z"),
    ] {
        exp.expires_at = Some(t);
        assert_eq!(
            render_authorized_keys([&exp]),
            format!("expiry-time=\"{want}\" {}\n", a.openssh)
        );
    }
    let mut out = String::from("x\n");
    push_authorized_keys([&b], &mut out);
    assert_eq!(out, format!("x\n{}\n", b.openssh));
    // Nothing stored can inject options or lines.
    for bad in [
        format!("{}\ncommand=\"sh\" {}", a.openssh, b.openssh),
        format!("command=\"sh\" {}", a.openssh),
        format!("{} comment", a.openssh),
        format!("{} ", a.openssh),
        a.openssh.replace(' ', "\t"),
        String::new(),
        "ssh-ed25519".into(),
    ] {
        let mut k = a.clone();
        k.openssh = bad.clone();
        assert_eq!(
            render_authorized_keys([&k, &b]),
            format!("{}\n", b.openssh),
            "{bad:?}"
        );
    }
    assert_eq!(
        render_principals(&groups(&["alice", "bad one", "#x", "deploy"])),
        "alice\ndeploy\n"
    );
    assert_eq!(render_principals(&[]), "");
}

/// A user with a certificate signed by a fresh user CA.
fn with_cert(serial: u64, key_id: &str) -> (SshUserState, Vec<u8>) {
    let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let key = ParsedKey::parse(ED25519).unwrap();
    let signed = cert::sign(
        &CertRequest {
            kind: CertKind::User,
            public_key: &key,
            serial,
            key_id: key_id.into(),
            principals: vec!["alice".into()],
            valid_after: (NOW - 10) as u64,
            valid_before: (NOW + 10) as u64,
        },
        &ca,
    )
    .unwrap();
    let mut u = user(Vec::new());
    u.certs.push(SshCertEntry {
        key_id: "c1".into(),
        name: "laptop".into(),
        serial,
        openssh: signed.openssh,
        fingerprint: signed.fingerprint,
        principals: signed.principals,
        valid_after: NOW - 10,
        valid_before: NOW + 10,
        host_groups: groups(&["demo_servers"]),
    });
    let ca_blob = ParsedKey::from_ssh_key(&ca.public_key()).unwrap().blob;
    (u, ca_blob)
}

#[test]
fn principals_rules() {
    let (u, ca) = with_cert(77, "alice@laptop");
    let host = groups(&["demo_servers"]);
    let fp = u.certs[0].fingerprint.clone();
    let p = |u: &SshUserState,
             host: &[String],
             serial: Option<u64>,
             fp: Option<&str>,
             krl: Option<&Krl>,
             now: i64| { principals(u, host, serial, fp, &ca, krl, now) };
    let all = groups(&["alice", "deploy"]);
    // Without a serial: the user's principals if the user is in one of the host's groups.
    assert_eq!(p(&u, &host, None, None, None, NOW), all);
    assert!(p(&u, &groups(&["other"]), None, None, None, NOW).is_empty());
    assert!(p(&u, &[], None, None, None, NOW).is_empty());
    // With a serial: the certificate must exist, be valid now, share a group.
    assert_eq!(p(&u, &host, Some(77), None, None, NOW), all);
    assert_eq!(p(&u, &host, Some(77), Some(fp.as_str()), None, NOW), all);
    assert!(p(&u, &host, Some(77), Some(ED25519), None, NOW).is_empty());
    assert!(p(&u, &host, Some(78), None, None, NOW).is_empty());
    assert!(p(&u, &groups(&["other"]), Some(77), None, None, NOW).is_empty());
    assert!(p(&u, &host, Some(77), None, None, NOW + 10).is_empty());
    assert!(p(&u, &host, Some(77), None, None, NOW - 11).is_empty());
    assert_eq!(p(&u, &host, Some(77), None, None, NOW - 10), all);
    // Locked.
    let mut locked = u.clone();
    locked.locked = true;
    assert!(p(&locked, &host, None, None, None, NOW).is_empty());
    // Revoked: by serial, by key ID (read from the certificate), by the plain key's hash,
    // under this CA or any CA; not by another CA's entries.
    type Revoke<'a> = Box<dyn Fn(&mut Krl) + 'a>;
    let cases: Vec<(&str, Revoke<'_>, bool)> = vec![
        ("nothing", Box::new(|_| {}), false),
        ("serial", Box::new(|k| k.revoke_serial(&ca, 77)), true),
        (
            "other serial",
            Box::new(|k| k.revoke_serial(&ca, 78)),
            false,
        ),
        (
            "wildcard serial",
            Box::new(|k| k.revoke_serial(&[], 77)),
            true,
        ),
        (
            "key id",
            Box::new(|k| k.revoke_key_id(&ca, "alice@laptop")),
            true,
        ),
        (
            "other key id",
            Box::new(|k| k.revoke_key_id(&ca, "bob")),
            false,
        ),
        (
            "wildcard key id",
            Box::new(|k| k.revoke_key_id(&[], "alice@laptop")),
            true,
        ),
        (
            "other CA",
            Box::new(|k| {
                let other = ParsedKey::parse(SEED_RSA).unwrap().blob;
                k.revoke_serial(&other, 77);
                k.revoke_key_id(&other, "alice@laptop");
            }),
            false,
        ),
        (
            "plain key",
            Box::new(|k| k.revoke_key(ParsedKey::parse(ED25519).unwrap().sha256)),
            true,
        ),
    ];
    for (why, revoke, revoked) in cases {
        let mut krl = Krl::new(1, 0);
        revoke(&mut krl);
        let got = p(&u, &host, Some(77), None, Some(&krl), NOW);
        assert_eq!(got.is_empty(), revoked, "{why}");
    }
    // Invalid stored principals are never served.
    let mut odd = u.clone();
    odd.principals = groups(&["ok", "not ok", ""]);
    assert_eq!(p(&odd, &host, None, None, None, NOW), ["ok"]);
}

#[test]
fn fingerprint_narrows_the_keys() {
    let u = user(vec![
        entry(ED25519, "ed", &["g"], None),
        entry(SEED_RSA, "rsa", &["g"], None),
    ]);
    let host = groups(&["g"]);
    let ed = ParsedKey::parse(ED25519).unwrap().sha256;
    let ids = |fp: Option<&[u8; 32]>, krl: Option<&Krl>| -> Vec<String> {
        authorized_keys_matching(&u, &host, fp, krl, NOW)
            .map(|k| k.key_id.clone())
            .collect()
    };
    assert_eq!(ids(None, None), ["ed", "rsa"]);
    assert_eq!(ids(Some(&ed), None), ["ed"]);
    assert!(ids(Some(&[7; 32]), None).is_empty());
    let mut krl = Krl::new(1, 0);
    krl.revoke_key(ed);
    assert!(ids(Some(&ed), Some(&krl)).is_empty());
    assert_eq!(ids(None, Some(&krl)), ["rsa"]);
}

#[test]
fn certificates_handed_out() {
    let (u, ca) = with_cert(77, "alice@laptop");
    let fp = sha256_of_fingerprint(&u.certs[0].fingerprint).unwrap();
    let n = |keyid: Option<&str>, sha: Option<&[u8; 32]>, krl: Option<&Krl>, now: i64| {
        certificates(&u.certs, keyid, sha, &ca, krl, now).count()
    };
    assert_eq!(n(None, None, None, NOW), 1);
    assert_eq!(n(Some("c1"), Some(&fp), None, NOW), 1);
    assert_eq!(n(Some("c2"), None, None, NOW), 0);
    assert_eq!(n(None, Some(&[1; 32]), None, NOW), 0);
    // Expired at valid_before; not yet valid is still handed out.
    assert_eq!(n(None, None, None, NOW + 10), 0);
    assert_eq!(n(None, None, None, NOW - 100), 1);
    let mut krl = Krl::new(1, 0);
    krl.revoke_serial(&ca, 77);
    assert_eq!(n(None, None, Some(&krl), NOW), 0);

    let mut out = String::new();
    push_certificates(&u.certs, &mut out);
    assert_eq!(out, format!("{}\n", u.certs[0].openssh));
    assert!(out.starts_with("ssh-ed25519-cert-v01@openssh.com AAAA"));
    for bad in [
        format!("{}\nssh-ed25519 AAAA", u.certs[0].openssh),
        ED25519.to_string(),
        "ssh-ed25519-cert-v01@openssh.com".into(),
        "ssh-ed25519-cert-v01@openssh.com AA$A".into(),
        String::new(),
    ] {
        let mut c = u.certs[0].clone();
        c.openssh = bad.clone();
        let mut out = String::new();
        push_certificates([&c], &mut out);
        assert_eq!(out, "", "{bad:?}");
    }
}

#[test]
fn usernames() {
    for ok in [
        "alice",
        "_svc",
        "a",
        "judy.parker",
        "a-b_c9",
        "host$",
        &"a".repeat(32),
    ] {
        assert!(valid_username(ok), "{ok}");
    }
    for bad in [
        "",
        "Alice",
        "9lives",
        "-a",
        ".a",
        "a b",
        "a/b",
        "a:b",
        "$",
        "a$b",
        "é",
        "a\n",
        &"a".repeat(33),
    ] {
        assert!(!valid_username(bad), "{bad:?}");
    }
}

#[test]
fn hostnames() {
    for ok in [
        "mavrix2",
        "a",
        "web-1.example.org",
        "A.B.C",
        "1host",
        &"a".repeat(63),
    ] {
        assert!(valid_hostname(ok), "{ok}");
    }
    let long = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(62),
    ]
    .join(".");
    assert_eq!(long.len(), 254);
    for bad in [
        "",
        ".",
        "a.",
        ".a",
        "a..b",
        "-a",
        "a-",
        "a_b",
        "a b",
        "é",
        &"a".repeat(64),
        &long,
    ] {
        assert!(!valid_hostname(bad), "{bad:?}");
    }
}

#[test]
fn parameters() {
    assert!(valid_fingerprint(
        "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ"
    ));
    assert!(!valid_fingerprint(
        "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83C"
    ));
    assert!(!valid_fingerprint("MD5:00:11"));
    assert_eq!(parse_serial("0"), Some(0));
    assert_eq!(parse_serial("18446744073709551615"), Some(u64::MAX));
    for bad in [
        "",
        "18446744073709551616",
        "-1",
        "+1",
        "01",
        "1 ",
        "0x10",
        "١",
    ] {
        assert_eq!(parse_serial(bad), None, "{bad:?}");
        assert!(!valid_serial(bad));
    }
    for ok in [
        "alice",
        "root",
        "a.b@example.org",
        "svc+ci",
        "host$",
        "x-1_2",
    ] {
        assert!(valid_principal(ok), "{ok}");
    }
    for bad in [
        "",
        "a b",
        "a,b",
        "*",
        "a?",
        "#a",
        "a\tb",
        "é",
        &"p".repeat(256),
    ] {
        assert!(!valid_principal(bad), "{bad:?}");
    }
    for ok in ["demo_servers", "KeyperAdmins", "AllHosts", "g.1-x", "_x"] {
        assert!(valid_group_name(ok), "{ok}");
    }
    for bad in ["", "-g", ".g", "a b", "a,b", "cn=x", &"g".repeat(65)] {
        assert!(!valid_group_name(bad), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn serials_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_serial(&n.to_string()), Some(n));
    }

    /// Whatever the key entries hold, the rendered text has one safe line per key served.
    #[test]
    fn rendered_text_is_only_key_lines(
        entries in proptest::collection::vec(
            ("\\PC{0,80}|[a-z0-9-]{1,12} [A-Za-z0-9+/=]{1,20}", proptest::option::of(any::<i64>())),
            0..6,
        )
    ) {
        let keys: Vec<SshKeyEntry> = entries
            .iter()
            .map(|(o, expires_at)| SshKeyEntry {
                key_id: String::new(),
                name: String::new(),
                openssh: o.clone(),
                fingerprint: String::new(),
                expires_at: *expires_at,
                host_groups: Vec::new(),
            })
            .collect();
        let text = render_authorized_keys(&keys);
        for line in text.lines() {
            prop_assert!(!line.chars().any(char::is_control));
            // `[expiry-time="YYYYMMDDHHMMSSZ" ]type base64`, the time a real one.
            let key = match line.strip_prefix("expiry-time=\"") {
                Some(rest) => {
                    let (time, key) = rest.split_once("\" ").unwrap();
                    let t = sigil_shared::time::parse_generalized_time(time.as_bytes());
                    prop_assert!(t.is_some(), "{}", line);
                    key
                }
                None => line,
            };
            prop_assert_eq!(key.split(' ').count(), 2);
            prop_assert!(safe_key_line(key));
        }
        prop_assert_eq!(text.lines().count(), keys.iter().filter(|k| safe_key_line(&k.openssh)).count());
        prop_assert!(text.is_empty() || text.ends_with('\n'));
    }
}
