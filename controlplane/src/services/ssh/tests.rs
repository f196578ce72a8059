//! The SSH key service on a `MemStore`: first start, users, hosts, groups, keys and
//! certificates, revocation and the KRL, what every commit replicates and audits; logins in
//! `tests/auth.rs`, hosts, groups and snapshots in `tests/directory.rs`.

mod auth;
mod directory;

use std::sync::Arc;

use serde_json::json;
use sigil_shared::replication::{Change, Frame, SshCaKind};
use sigil_ssh::keyper::{
    GroupUpdate, HostUpdate, LoginRequest, NewGroup, NewHost, NewUser, SshCertView, SshKeyView,
    UserUpdate,
};
use sigil_ssh::{CaAlgorithm, CertInfo, CertKind, Krl, ParsedKey, SoftwareCa};
use sigil_storage::{MemStore, ReadView, Store};

use super::{Caller, Ssh, SshError};
use crate::audit::{with_actor, Actor};
use crate::config::CpConfig;
use crate::db::cf;
use crate::db::ssh::SshUserRecord;
use crate::metrics::Metrics;
use crate::services::context::Context;
use crate::services::replication::Replication;
use crate::services::ErrorKind;

const BASE: &str = "dc=sigil,dc=local";
/// Keyper's example key and its fingerprint (seed: `POST /users`).
const SEED_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1KtJpPn6W9W5WgPU8+eYuuSKKyHA+Z62mVLYp50Ch/MMTUSxcFF/V1H81CStU4OrPv/pUxpHtqSDeTCMbVtTmP0Bbc5V7rCYQVgfhTB7CzKAwnfJSfJGY/JoJLCrC4kt40PMwyXTHiPUkrs4tOHiv7GIT4aZI/wmVPrg8x6oBFRgfCl1TQVgeSQl2kAnjkUHEsq2CsnZR9mKIJ31CWzeHLotYHNg82jmgylCWUsl6Pd5eigObUtk0j6Vnjn7FUKwSmffhEPInU1K+IzYMdFe1QElTSO7X+IOjedQZ2Y8nt3U9N9WPyd7FK13Sn8Ij22CIMmTuvfNXv/H4ja9vF0Ob";
const SEED_FP: &str = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20";
const PASSWORD: &str = "correct horse battery";

struct Setup {
    ssh: Ssh,
    cx: Arc<Context>,
    store: MemStore,
}

fn open_on(store: &MemStore, cfg: CpConfig) -> (Ssh, Arc<Context>) {
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let cx = Arc::new(
        Context::open(
            shared,
            Arc::new(cfg),
            Metrics::new(),
            crate::services::secrets::test_kek(),
        )
        .unwrap(),
    );
    (Ssh::open(cx.clone()).unwrap(), cx)
}

fn setup() -> Setup {
    let store = MemStore::new(cf::ALL);
    let (ssh, cx) = open_on(&store, CpConfig::default());
    Setup { ssh, cx, store }
}

fn fresh_key() -> String {
    SoftwareCa::generate(CaAlgorithm::Ed25519)
        .unwrap()
        .public_openssh()
}

fn key(line: &str, groups: &[&str]) -> SshKeyView {
    SshKeyView {
        name: "laptop".into(),
        key: line.into(),
        host_groups: groups
            .iter()
            .map(|g| format!("cn={g},ou=groups,{BASE}"))
            .collect(),
        ..SshKeyView::default()
    }
}

fn cert(line: &str, groups: &[&str]) -> SshCertView {
    SshCertView {
        name: "cert".into(),
        key: line.into(),
        host_groups: groups
            .iter()
            .map(|g| format!("cn={g},ou=groups,{BASE}"))
            .collect(),
        ..SshCertView::default()
    }
}

fn new_user(name: &str, groups: &[&str]) -> NewUser {
    serde_json::from_value(json!({
        "cn": name, "userPassword": PASSWORD, "confirmPassword": PASSWORD,
        "givenName": "Al", "sn": "Ice", "displayName": "Al Ice", "mail": format!("{name}@example.org"),
        "accountLocked": "false",
        "memberOfs": groups.iter().map(|g| format!("cn={g},ou=groups,{BASE}")).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn group(ssh: &Ssh, name: &str) {
    ssh.create_group(NewGroup {
        cn: name.into(),
        description: Some(name.into()),
        members: vec![],
    })
    .unwrap();
}

fn changes_after(cx: &Context, seq: u64) -> Vec<Change> {
    cx.db()
        .read_log(seq, 1000)
        .unwrap()
        .into_iter()
        .map(|r| r.change)
        .collect()
}

fn current_krl(ssh: &Ssh) -> Krl {
    let state = ssh.krl().unwrap();
    let krl = Krl::decode(&state.krl).unwrap();
    assert_eq!(krl.version, state.version);
    krl
}

fn sha(line: &str) -> [u8; 32] {
    ParsedKey::parse(line).unwrap().sha256
}

fn audit_actions(cx: &Context) -> Vec<(String, bool)> {
    let (records, _) = cx
        .audit_log()
        .list(1, u64::MAX, 1, 1000, &|_| true)
        .unwrap();
    records
        .iter()
        .map(|r| (r.event.action.clone(), r.event.success))
        .collect()
}

#[test]
fn first_start_creates_the_cas_admin_group_and_krl_in_one_commit() {
    let s = setup();
    let changes = changes_after(&s.cx, 0);
    assert_eq!(changes.len(), 4, "{changes:#?}");
    let cas: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::SshCaPut(ca) => Some(ca.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cas.len(), 2);
    assert_eq!(cas[0].kind, SshCaKind::User);
    assert_eq!(cas[0].openssh, s.ssh.user_ca());
    assert!(
        s.ssh.user_ca().starts_with("ssh-ed25519 ") && s.ssh.user_ca().ends_with(" sigil-user-ca")
    );
    assert!(s.ssh.host_ca().ends_with(" sigil-host-ca"));
    assert_ne!(s.ssh.user_ca(), s.ssh.host_ca());
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::SshGroupPut(g) if g.name == "KeyperAdmins")));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::SshKrlPut(k) if k.version == 1)));
    assert_eq!(audit_actions(&s.cx), [("ssh.init".to_string(), true)]);
    for k in [&b"ssh/user-ca"[..], b"ssh/host-ca", b"ssh/jwt"] {
        assert!(s.store.get(cf::KEYS, k).unwrap().is_some());
    }
    // The private keys are OpenSSH private keys, stored sealed, never replicated or audited.
    let stored = s.store.get(cf::KEYS, b"ssh/user-ca").unwrap().unwrap();
    assert!(stored.starts_with(crate::crypto::sealed::MAGIC));
    let private =
        s.cx.secret(&crate::db::secrets::SecretName::ssh_ca_key(SshCaKind::User))
            .unwrap()
            .unwrap();
    assert!(private.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert!(!stored.windows(16).any(|w| w == b"OPENSSH PRIVATE "));
    assert_eq!(current_krl(&s.ssh).version, 1);

    // A second start finds everything: no commit, the same CAs.
    let head = s.cx.db().head();
    let (again, cx2) = open_on(&s.store, CpConfig::default());
    assert_eq!(cx2.db().head(), head);
    assert_eq!(again.user_ca(), s.ssh.user_ca());
    assert_eq!(again.host_ca(), s.ssh.host_ca());
    assert_eq!(audit_actions(&cx2).len(), 1);
}

#[test]
fn other_ca_algorithms() {
    let mut cfg = CpConfig::default();
    cfg.ssh.user_ca.algorithm = CaAlgorithm::EcdsaP384;
    cfg.ssh.host_ca.algorithm = CaAlgorithm::EcdsaP256;
    let store = MemStore::new(cf::ALL);
    let (ssh, _) = open_on(&store, cfg);
    assert!(ssh.user_ca().starts_with("ecdsa-sha2-nistp384 "));
    assert!(ssh.host_ca().starts_with("ecdsa-sha2-nistp256 "));
    group(&ssh, "web");
    let mut u = new_user("carol", &["web"]);
    let line = fresh_key();
    u.ssh_public_certs = vec![cert(&line, &["web"])];
    let (view, _) = ssh.create_user(u).unwrap();
    let info = CertInfo::parse(view.ssh_public_certs[0].cert.as_deref().unwrap()).unwrap();
    assert_eq!(info.ca_blob, ssh.user_ca.blob);
}

#[test]
fn create_user_with_keys_and_a_certificate() {
    let s = setup();
    group(&s.ssh, "demo_servers");
    let head = s.cx.db().head();
    let mut u = new_user("judy", &["demo_servers"]);
    u.principal = Some("judy, deploy".into());
    u.duration = Some(8);
    u.duration_unit = Some(sigil_ssh::keyper::DurationUnit::Hours);
    let mut k = key(SEED_KEY, &["demo_servers"]);
    k.fingerprint = SEED_FP.into();
    k.date_expire = Some("20301204".into());
    let certified = fresh_key();
    u.ssh_public_keys = vec![k];
    u.ssh_public_certs = vec![cert(&certified, &["demo_servers"])];
    let (view, seq) = s.ssh.create_user(u).unwrap();
    assert_eq!(seq, s.cx.db().head());

    assert_eq!(view.dn, format!("cn=judy,ou=people,{BASE}"));
    assert_eq!((view.cn.as_str(), view.uid.as_str()), ("judy", "judy"));
    assert_eq!(
        view.member_ofs,
        [format!("cn=demo_servers,ou=groups,{BASE}")]
    );
    assert_eq!(view.principal.as_deref(), Some("judy,deploy"));
    let k = &view.ssh_public_keys[0];
    assert_eq!(k.fingerprint, SEED_FP);
    assert_eq!(k.key, SEED_KEY);
    assert_eq!(k.date_expire.as_deref(), Some("20301204"));
    assert_eq!(k.host_groups, [format!("cn=demo_servers,ou=groups,{BASE}")]);
    assert_eq!(k.keyid.as_ref().map(String::len), Some(16));

    // The certificate parses back: a user certificate of the user CA with the principals.
    let c = &view.ssh_public_certs[0];
    let info = CertInfo::parse(c.cert.as_deref().unwrap()).unwrap();
    assert_eq!(info.kind, CertKind::User);
    assert_eq!(info.principals, ["judy", "deploy"]);
    assert_eq!(
        info.key_id,
        format!("sigil:judy:{}", c.keyid.as_deref().unwrap())
    );
    assert_eq!(Some(info.serial), c.serial);
    assert_ne!(info.serial, 0);
    assert_eq!(
        info.fingerprint,
        ParsedKey::parse(&certified).unwrap().fingerprint
    );
    assert_eq!(info.ca_blob, s.ssh.user_ca.blob);
    assert_eq!(
        info.valid_before - info.valid_after,
        8 * 3600 + super::keys::BACKDATE_SECS
    );

    // One commit: the user as data planes get it.
    let changes = changes_after(&s.cx, head);
    assert_eq!(changes.len(), 1);
    let Change::SshUserPut(state) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(state.username, "judy");
    assert_eq!(state.groups, ["demo_servers"]);
    assert_eq!(state.principals, ["judy", "deploy"]);
    assert_eq!(state.keys[0].openssh, SEED_KEY);
    assert_eq!(state.keys[0].expires_at, Some(1_922_659_200));
    assert_eq!(state.certs[0].serial, info.serial);
    assert_eq!(audit_actions(&s.cx).last().unwrap().0, "ssh.user.create");

    // GET shows the same; a one-element list is the API's business.
    assert_eq!(s.ssh.get_user(&Caller::Admin, "judy").unwrap(), view);
    assert_eq!(s.ssh.list_users().unwrap(), [view]);
}

#[test]
fn invalid_requests_are_refused_before_anything_is_written() {
    let s = setup();
    group(&s.ssh, "web");
    s.ssh.create_user(new_user("alice", &["web"])).unwrap();
    let head = s.cx.db().head();
    let kind = |r: Result<_, SshError>| r.map(|_| ()).unwrap_err().kind();

    assert_eq!(
        kind(s.ssh.create_user(new_user("alice", &[]))),
        ErrorKind::Conflict
    );
    assert!(matches!(
        s.ssh.create_user(new_user("bob", &["nope"])),
        Err(SshError::UnknownGroup(_))
    ));
    let mut u = new_user("bob", &[]);
    let mut k = key(SEED_KEY, &["web"]);
    k.fingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    u.ssh_public_keys = vec![k];
    assert!(matches!(
        s.ssh.create_user(u),
        Err(SshError::FingerprintMismatch { .. })
    ));
    let mut u = new_user("bob", &[]);
    u.ssh_public_keys = vec![key("ssh-rsa AAAAnotakey", &["web"])];
    assert_eq!(kind(s.ssh.create_user(u)), ErrorKind::Invalid);
    let mut u = new_user("bob", &[]);
    let mut k = key(&fresh_key(), &["web"]);
    k.date_expire = Some("2020-12-04".into());
    u.ssh_public_keys = vec![k];
    assert_eq!(kind(s.ssh.create_user(u)), ErrorKind::Invalid);
    let mut u = new_user("Bob", &[]);
    assert_eq!(kind(s.ssh.create_user(u.clone())), ErrorKind::Invalid);
    u.cn = "bob".into();
    u.confirm_password = "other password".into();
    assert_eq!(kind(s.ssh.create_user(u)), ErrorKind::Invalid);
    let mut u = new_user("bob", &[]);
    u.principal = Some("has space".into());
    assert_eq!(kind(s.ssh.create_user(u)), ErrorKind::Invalid);
    assert_eq!(
        s.ssh.delete_user("nobody").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(s.cx.db().head(), head, "nothing was committed");
}

#[test]
fn removing_a_key_revokes_it_and_the_krl_version_grows() {
    let s = setup();
    group(&s.ssh, "web");
    let (a, b) = (fresh_key(), fresh_key());
    let mut u = new_user("alice", &["web"]);
    u.ssh_public_keys = vec![key(&a, &["web"]), key(&b, &["web"])];
    u.ssh_public_certs = vec![cert(&fresh_key(), &["web"])];
    let (view, _) = s.ssh.create_user(u).unwrap();
    let v1 = current_krl(&s.ssh).version;

    // A key entry with keyid revokes that key: KRL first, then the user, in one commit.
    let head = s.cx.db().head();
    let revoke = UserUpdate {
        ssh_public_keys: Some(vec![SshKeyView {
            keyid: view.ssh_public_keys[0].keyid.clone(),
            ..SshKeyView::default()
        }]),
        ..UserUpdate::default()
    };
    let (after, _) = s.ssh.update_user(&Caller::Admin, "alice", revoke).unwrap();
    assert_eq!(after.ssh_public_keys.len(), 1);
    assert_eq!(after.ssh_public_keys[0].key, b);
    let changes = changes_after(&s.cx, head);
    assert_eq!(changes.len(), 2, "{changes:#?}");
    let Change::SshKrlPut(k) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert!(k.version > v1);
    assert!(matches!(&changes[1], Change::SshUserPut(u) if u.keys.len() == 1));
    let krl = current_krl(&s.ssh);
    assert!(krl.revokes_key(&sha(&a)));
    assert!(!krl.revokes_key(&sha(&b)));
    assert_eq!(audit_actions(&s.cx).last().unwrap().0, "ssh.key.revoke");

    // A revoked key cannot come back, to this user or another.
    let again = UserUpdate {
        ssh_public_keys: Some(vec![key(&a, &["web"])]),
        ..UserUpdate::default()
    };
    assert!(matches!(
        s.ssh.update_user(&Caller::Admin, "alice", again),
        Err(SshError::KeyRevoked(_))
    ));
    // Nor may another user register alice's key.
    let mut bob = new_user("bob", &["web"]);
    bob.ssh_public_keys = vec![key(&b, &["web"])];
    assert!(matches!(
        s.ssh.create_user(bob),
        Err(SshError::KeyRegistered(_))
    ));

    // Revoking the certificate lists its serial under the user CA.
    let serial = after.ssh_public_certs[0].serial.unwrap();
    let revoke = UserUpdate {
        ssh_public_certs: Some(vec![SshCertView {
            keyid: after.ssh_public_certs[0].keyid.clone(),
            ..SshCertView::default()
        }]),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&Caller::Admin, "alice", revoke).unwrap();
    let krl2 = current_krl(&s.ssh);
    assert!(krl2.version > krl.version);
    assert!(krl2.revokes_serial(&s.ssh.user_ca.blob, serial));
    assert!(!krl2.revokes_serial(&s.ssh.host_ca.blob, serial));
    assert!(krl2.revokes_key(&sha(&a)), "revocations stay");

    // Deleting the user revokes everything left; versions keep growing across a restart.
    let head = s.cx.db().head();
    s.ssh.delete_user("alice").unwrap();
    let changes = changes_after(&s.cx, head);
    assert!(matches!(&changes[0], Change::SshKrlPut(_)));
    assert!(matches!(&changes[1], Change::SshUserDelete { username } if username == "alice"));
    let krl3 = current_krl(&s.ssh);
    assert!(krl3.version > krl2.version && krl3.revokes_key(&sha(&b)));
    assert_eq!(audit_actions(&s.cx).last().unwrap().0, "ssh.user.delete");
    let (reopened, _) = open_on(&s.store, CpConfig::default());
    group(&reopened, "db");
    let mut carol = new_user("carol", &["db"]);
    carol.ssh_public_keys = vec![key(&fresh_key(), &["db"])];
    let (c, _) = reopened.create_user(carol).unwrap();
    let gone = UserUpdate {
        ssh_public_keys: Some(vec![SshKeyView {
            keyid: c.ssh_public_keys[0].keyid.clone(),
            ..SshKeyView::default()
        }]),
        ..UserUpdate::default()
    };
    reopened.update_user(&Caller::Admin, "carol", gone).unwrap();
    assert!(current_krl(&reopened).version > krl3.version);
}

#[test]
fn no_password_or_hash_in_any_change_or_audit_record() {
    let s = setup();
    group(&s.ssh, "web");
    let mut u = new_user("alice", &["web"]);
    u.ssh_public_keys = vec![key(&fresh_key(), &["web"])];
    s.ssh.create_user(u).unwrap();
    let change = UserUpdate {
        user_password: Some("another long password".into()),
        confirm_password: Some("another long password".into()),
        ..UserUpdate::default()
    };
    s.ssh.update_user(&Caller::Admin, "alice", change).unwrap();
    let _ = s.ssh.login(&LoginRequest {
        username: "alice".into(),
        password: "wrong password!".into(),
    });
    let rec: SshUserRecord = s.cx.db().get(cf::SSH_USERS, b"alice").unwrap().unwrap();
    let hash = rec.password.unwrap();
    let mut replicated = Vec::new();
    s.store
        .scan(cf::REPL_LOG, &[], None, &mut |_, v| {
            replicated.extend_from_slice(v);
            true
        })
        .unwrap();
    let mut audited = Vec::new();
    s.store
        .scan(cf::AUDIT, &[], None, &mut |_, v| {
            audited.extend_from_slice(v);
            true
        })
        .unwrap();
    for haystack in [&replicated, &audited] {
        for needle in [
            &hash.hash[..],
            &hash.salt[..],
            PASSWORD.as_bytes(),
            b"another long password",
            b"wrong password!",
            hex::encode(hash.hash).as_bytes(),
        ] {
            assert!(!haystack.windows(needle.len()).any(|w| w == needle));
        }
    }
    let actions = audit_actions(&s.cx);
    assert!(actions.contains(&("ssh.user.update".into(), true)));
    assert!(actions.contains(&("ssh.login".into(), false)));
}
