//! The answers' rules against a map.

use std::rc::Rc;

use sigil_shared::replication::SshCaKind;
use sigil_ssh::cert::CertKind;
use sigil_ssh::krl::Krl;
use sigil_ssh::{CaAlgorithm, ParsedKey, SoftwareCa};

use super::test_support::*;
use super::*;

fn ask(dir: &MapDir, endpoint: Endpoint, q: &str) -> Reply {
    let input = Input {
        query: Some(q),
        ..Input::default()
    };
    answer(endpoint, &input, dir, NOW)
}

fn text(r: Reply) -> String {
    match r {
        Reply::Text(t) => t,
        other => panic!("not a 200 text answer: {other:?}"),
    }
}

/// alice: `web` (web1) forever, `db` (db1) until NOW + 100, an expired `web` key and a
/// `web` key the KRL revokes; bob: one `web` key.
struct World {
    dir: MapDir,
    keys: Vec<ParsedKey>,
    bob: ParsedKey,
}

fn world() -> World {
    let keys: Vec<ParsedKey> = (0..4).map(|_| fresh_key()).collect();
    let bob = fresh_key();
    let mut dir = MapDir::default();
    dir.add_user(user(
        "alice",
        &["web", "db"],
        vec![
            key_entry(&keys[0], "k0", &["web"], None),
            key_entry(&keys[1], "k1", &["db"], Some(NOW + 100)),
            key_entry(&keys[2], "k2", &["web"], Some(NOW)),
            key_entry(&keys[3], "k3", &["web", "db"], None),
        ],
    ));
    dir.add_user(user(
        "bob",
        &["web"],
        vec![key_entry(&bob, "b0", &["web"], None)],
    ));
    dir.add_host(host("web1", &["web"]));
    dir.add_host(host("db1", &["db"]));
    dir.add_host(host("other1", &["other"]));
    let mut krl = Krl::new(1, 0);
    krl.revoke_key(keys[3].sha256);
    dir.global = Rc::new(SshGlobal::of(None, None, Some(krl_state(&krl))));
    World { dir, keys, bob }
}

fn line(k: &ParsedKey) -> String {
    format!("{}\n", k.openssh)
}

#[test]
fn authorized_keys_by_the_rules() {
    let World { mut dir, keys, bob } = world();
    let q = |user: &str, host: &str| format!("username={user}&host={host}");
    // Expired (k2) and revoked (k3) keys are left out; host groups decide the rest.
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &q("alice", "web1"))),
        line(&keys[0])
    );
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &q("alice", "db1"))),
        format!("expiry-time=\"20231114221500Z\" {}", line(&keys[1]))
    );
    // Nothing matching, an unknown host or user: an empty 200.
    for (u, h) in [("alice", "other1"), ("alice", "nohost"), ("carol", "web1")] {
        assert_eq!(text(ask(&dir, Endpoint::AuthKeys, &q(u, h))), "", "{u}@{h}");
    }
    // Each user gets their own keys only.
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &q("bob", "web1"))),
        line(&bob)
    );
    assert!(!text(ask(&dir, Endpoint::AuthKeys, &q("bob", "db1"))).contains(&keys[1].openssh));

    // Fingerprint: the key it names, if allowed; a revoked or other user's key gets nothing.
    let fq = |k: &ParsedKey| format!("username=alice&host=web1&fingerprint={}", k.fingerprint);
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &fq(&keys[0]))),
        line(&keys[0])
    );
    for k in [&keys[1], &keys[2], &keys[3], &bob] {
        assert_eq!(text(ask(&dir, Endpoint::AuthKeys, &fq(k))), "");
    }

    // A record stored under another name than its own is nobody's.
    let alice = dir.users["alice"].clone();
    dir.users.insert("mallory".into(), alice.clone());
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &q("mallory", "web1"))),
        ""
    );

    // Locked: nothing.
    let mut locked = (*alice).clone();
    locked.locked = true;
    dir.add_user(locked);
    assert_eq!(text(ask(&dir, Endpoint::AuthKeys, &q("alice", "web1"))), "");

    // A KRL that does not decode allows nothing; a failing replica is a 500.
    dir.users.insert("alice".into(), alice);
    let broken = sigil_shared::replication::SshKrlState {
        version: 2,
        krl: b"not a KRL".to_vec(),
    };
    dir.global = Rc::new(SshGlobal::of(None, None, Some(broken)));
    assert_eq!(text(ask(&dir, Endpoint::AuthKeys, &q("alice", "web1"))), "");
    dir.global = Rc::new(SshGlobal::default());
    assert_eq!(
        text(ask(&dir, Endpoint::AuthKeys, &q("alice", "web1"))),
        line(&keys[0]) + &line(&keys[3])
    );
    dir.broken = true;
    assert_eq!(
        ask(&dir, Endpoint::AuthKeys, &q("alice", "web1")),
        Reply::Unavailable
    );
}

#[test]
fn bad_parameters_are_refused_before_any_lookup() {
    let mut dir = world().dir;
    dir.broken = true;
    for (q, e) in [
        ("username=alice", ParamError::Missing("host")),
        ("username=Alice&host=web1", ParamError::Invalid("username")),
        (
            "username=alice&host=web1&fingerprint=x",
            ParamError::Invalid("fingerprint"),
        ),
        (
            "username=alice&host=web1&username=bob",
            ParamError::Duplicate("username"),
        ),
    ] {
        assert_eq!(ask(&dir, Endpoint::AuthKeys, q), Reply::Refused(e), "{q}");
    }
    assert_eq!(
        ask(&dir, Endpoint::UserCert, "hostname=web1"),
        Reply::Refused(ParamError::Unknown)
    );
}

#[test]
fn principals_cas_krl_and_certificates() {
    let user_ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let host_ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let mut dir = world().dir;
    // Nothing replicated yet.
    dir.global = Rc::new(SshGlobal::default());
    for e in [Endpoint::UserCa, Endpoint::HostCa, Endpoint::KrlCa] {
        assert!(matches!(ask(&dir, e, ""), Reply::NotFound(_)), "{e:?}");
    }
    let mut alice = (*dir.users["alice"]).clone();
    alice
        .certs
        .push(cert_entry(&user_ca, CertKind::User, "c1", 77, &["web"]));
    let fp = alice.certs[0].fingerprint.clone();
    dir.add_user(alice.clone());
    let mut web1 = host("web1", &["web"]);
    web1.certs
        .push(cert_entry(&host_ca, CertKind::Host, "h1", 5, &["web"]));
    dir.add_host(web1.clone());
    let mut krl = Krl::new(1, 0);
    let set = |dir: &mut MapDir, krl: &Krl| {
        dir.global = Rc::new(SshGlobal::of(
            Some(ca_state(&user_ca, SshCaKind::User)),
            Some(ca_state(&host_ca, SshCaKind::Host)),
            Some(krl_state(krl)),
        ));
    };
    set(&mut dir, &krl);

    let princ = |dir: &MapDir, extra: &str| {
        text(ask(
            dir,
            Endpoint::AuthPrinc,
            &format!("username=alice&host=web1&fingerprint={fp}{extra}"),
        ))
    };
    assert_eq!(princ(&dir, "&serial=77"), "alice\ndeploy\n");
    assert_eq!(princ(&dir, ""), "alice\ndeploy\n");
    assert_eq!(princ(&dir, "&serial=78"), "");
    // Revoked by serial under the user CA, or the certified key itself.
    krl.revoke_serial(dir.global.ca_blob(SshCaKind::User), 77);
    set(&mut dir, &krl);
    assert_eq!(princ(&dir, "&serial=77"), "");
    let mut krl2 = Krl::new(2, 0);
    krl2.revoke_key(sigil_ssh::key::sha256_of_fingerprint(&fp).unwrap());
    set(&mut dir, &krl2);
    assert_eq!(princ(&dir, ""), "");

    // CA keys and the KRL as stored.
    let Reply::Shared(ct, body) = ask(&dir, Endpoint::UserCa, "") else {
        panic!()
    };
    assert_eq!(ct, TEXT_PLAIN);
    assert_eq!(
        &*body,
        format!("{}\n", ca_state(&user_ca, SshCaKind::User).openssh).as_bytes()
    );
    let Reply::Shared(ct, body) = ask(&dir, Endpoint::KrlCa, "") else {
        panic!()
    };
    assert_eq!((ct, body.to_vec()), (OCTET_STREAM, krl2.encode().unwrap()));

    // Certificates, whole or by keyid / fingerprint; none matching: 404.
    set(&mut dir, &Krl::new(3, 0));
    let line = format!("{}\n", alice.certs[0].openssh);
    let ask_cert = |e, q: &str| ask(&dir, e, q);
    assert_eq!(text(ask_cert(Endpoint::UserCert, "username=alice")), line);
    assert_eq!(
        text(ask_cert(Endpoint::UserCert, "username=alice&keyid=c1")),
        line
    );
    assert_eq!(
        text(ask_cert(
            Endpoint::UserCert,
            &format!("username=alice&fingerprint={fp}")
        )),
        line
    );
    assert_eq!(
        text(ask_cert(Endpoint::HostCert, "hostname=web1")),
        format!("{}\n", web1.certs[0].openssh)
    );
    for (e, q) in [
        (Endpoint::UserCert, "username=alice&keyid=c2"),
        (Endpoint::UserCert, "username=bob"),
        (Endpoint::UserCert, "username=carol"),
        (Endpoint::HostCert, "hostname=db1"),
        (Endpoint::HostCert, "hostname=nohost"),
    ] {
        assert_eq!(ask_cert(e, q), Reply::NotFound("no certificate"), "{q}");
    }
    // A revoked certificate is not handed out.
    krl.revoke_serial(&[], 5);
    set(&mut dir, &krl);
    for (e, q) in [
        (Endpoint::HostCert, "hostname=web1"),
        (Endpoint::UserCert, "username=alice"),
    ] {
        assert_eq!(ask(&dir, e, q), Reply::NotFound("no certificate"), "{q}");
    }
}

#[test]
fn ca_lines_must_be_keys_of_their_kind() {
    let ca = SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap();
    let state = ca_state(&ca, SshCaKind::User);
    assert!(CaKey::of(&state, SshCaKind::User).is_some());
    assert!(CaKey::of(&state, SshCaKind::Host).is_none());
    let mut bad = state.clone();
    bad.openssh = format!("{}\ncommand=\"x\" ssh-ed25519 AAAA", state.openssh);
    assert!(CaKey::of(&bad, SshCaKind::User).is_none());
}
