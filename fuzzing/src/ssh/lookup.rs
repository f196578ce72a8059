//! The data plane's SSH lookups (`/api/authkeys`, `/api/authprinc`, `/api/usercert`, …) over
//! a small fixed directory: a request's query and form body as sshd's helper, curl or any
//! client may send them.

use std::rc::Rc;

use sigil_dataplane::ssh::{
    answer, Endpoint, Input, Looked, ReadError, Reply, SshGlobal, SshLookup,
};
use sigil_shared::replication::{
    SshCaKind, SshCaState, SshCertEntry, SshHostState, SshKeyEntry, SshKrlState, SshUserState,
};
use sigil_ssh::cert::{self, CertKind, CertRequest};
use sigil_ssh::key::ParsedKey;
use sigil_ssh::krl::Krl;
use sigil_ssh::CaSigner;

use super::ca;

/// Alice's key (fixed, so that a fingerprint in a corpus file names it in every run).
const ALICE_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const NOW: i64 = 1_700_000_000;

const ENDPOINTS: [Endpoint; 7] = [
    Endpoint::AuthKeys,
    Endpoint::AuthPrinc,
    Endpoint::UserCa,
    Endpoint::HostCa,
    Endpoint::KrlCa,
    Endpoint::UserCert,
    Endpoint::HostCert,
];

/// User `alice` (one key, one certificate with serial 42), host `web1`, both in group
/// `web`; both CAs; a KRL revoking serial 99 and another key.
struct Dir {
    user: Rc<SshUserState>,
    host: Rc<SshHostState>,
    global: Rc<SshGlobal>,
}

impl SshLookup for Dir {
    fn ssh_user(&self, username: &str) -> Looked<SshUserState> {
        Ok((username == self.user.username).then(|| self.user.clone()))
    }

    fn ssh_host(&self, hostname: &str) -> Looked<SshHostState> {
        Ok((hostname == self.host.hostname).then(|| self.host.clone()))
    }

    fn ssh_global(&self) -> Result<Rc<SshGlobal>, ReadError> {
        Ok(self.global.clone())
    }
}

fn dir() -> Dir {
    let key = ParsedKey::parse(ALICE_KEY).unwrap();
    let web = vec!["web".to_string()];
    let signed = cert::sign(
        &CertRequest {
            kind: CertKind::User,
            public_key: &key,
            serial: 42,
            key_id: "alice@sigil".into(),
            principals: vec!["alice".into()],
            valid_after: (NOW - 10) as u64,
            valid_before: (NOW + 10) as u64,
        },
        ca(),
    )
    .unwrap();
    let cert = SshCertEntry {
        key_id: "c1".into(),
        name: "c1".into(),
        serial: 42,
        openssh: signed.openssh,
        fingerprint: signed.fingerprint,
        principals: signed.principals,
        valid_after: NOW - 10,
        valid_before: NOW + 10,
        host_groups: web.clone(),
    };
    let user = SshUserState {
        username: "alice".into(),
        locked: false,
        groups: web.clone(),
        principals: vec!["alice".into(), "deploy".into()],
        keys: vec![SshKeyEntry {
            key_id: "k1".into(),
            name: "laptop".into(),
            openssh: key.openssh.clone(),
            fingerprint: key.fingerprint.clone(),
            expires_at: Some(NOW + 3600),
            host_groups: web.clone(),
        }],
        certs: vec![cert],
    };
    let host = SshHostState {
        hostname: "web1".into(),
        groups: web,
        certs: Vec::new(),
    };
    let ca_key = ParsedKey::from_ssh_key(&ca().public_key()).unwrap();
    let mut krl = Krl::new(1, NOW as u64);
    krl.revoke_serial(&ca_key.blob, 99);
    krl.revoke_key([0xee; 32]);
    let ca_state = |kind| SshCaState {
        kind,
        openssh: ca_key.openssh.clone(),
    };
    let global = SshGlobal::of(
        Some(ca_state(SshCaKind::User)),
        Some(ca_state(SshCaKind::Host)),
        Some(SshKrlState {
            version: 1,
            krl: krl.encode().unwrap(),
        }),
    );
    Dir {
        user: Rc::new(user),
        host: Rc::new(host),
        global: Rc::new(global),
    }
}

thread_local! {
    static DIR: Dir = dir();
}

/// The first byte picks the endpoint (low bits) and POST (high bit); the rest is `query`,
/// `\n`, `Content-Type`, `\n`, body. Parameters are refused (400/415) or answered; the
/// replica never fails here, so nothing is 500. What `/api/authkeys` answers, sigil-authkeys
/// passes to sshd unchanged, and likewise `/api/authprinc`. A GET's query sent as a form body
/// gets the same answer.
pub fn ssh_lookup(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let endpoint = ENDPOINTS[usize::from(first & 0x7f) % ENDPOINTS.len()];
    let post = first & 0x80 != 0;
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let Ok(query) = std::str::from_utf8(parts.next().unwrap_or_default()) else {
        return;
    };
    let content_type = parts.next();
    let body = parts.next();
    let input = Input {
        query: Some(query).filter(|q| !q.is_empty()),
        body: body.filter(|_| post),
        content_type,
    };
    DIR.with(|dir| {
        let reply = answer(endpoint, &input, dir, NOW);
        check(endpoint, &reply);
        if !post {
            let as_form = Input {
                query: None,
                body: Some(query.as_bytes()),
                content_type: Some(b"application/x-www-form-urlencoded"),
            };
            assert_eq!(answer(endpoint, &as_form, dir, NOW), reply);
        }
    });
}

fn check(endpoint: Endpoint, reply: &Reply) {
    match reply {
        Reply::Unavailable => panic!("500 without a replica error"),
        Reply::Refused(e) => assert!(matches!(e.status(), 400 | 415)),
        Reply::Text(text) if endpoint == Endpoint::AuthKeys => {
            let (passed, dropped) = sigil_authkeys::answer::keys(text, None, NOW);
            assert_eq!((passed.as_str(), dropped), (text.as_str(), 0));
            assert!(text.lines().all(|l| l.ends_with(ALICE_KEY)), "{text}");
        }
        Reply::Text(text) if endpoint == Endpoint::AuthPrinc => {
            let (passed, dropped) = sigil_authkeys::answer::principals(text);
            assert_eq!((passed.as_str(), dropped), (text.as_str(), 0));
        }
        _ => {}
    }
}
