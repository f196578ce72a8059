//! The answers (sans-io: endpoint + parameters + [`SshLookup`] + now → [`Reply`]), by the
//! rules of `sigil_ssh::lookup`. Names are looked up exactly as given and validated; a user,
//! host or anything else unknown gets the same answer as "nothing allowed", and a KRL that
//! does not decode allows nothing.

use std::rc::Rc;

use sigil_shared::replication::{SshCaKind, SshCertEntry, SshHostState, SshUserState};
use sigil_ssh::key::sha256_of_fingerprint;
use sigil_ssh::lookup::{
    authorized_keys_matching, certificates, principals, push_authorized_keys, push_certificates,
    render_principals,
};

use super::directory::{ReadError, SshGlobal, SshLookup};
use super::params::{AuthKeys, AuthPrinc, CertQuery, Input, ParamError};
use super::Endpoint;

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 `text/plain; charset=utf-8`; may be empty.
    Text(String),
    /// 200 with this content type and a body the core keeps.
    Shared(&'static str, Rc<[u8]>),
    /// 404 with this reason.
    NotFound(&'static str),
    /// 400 or 415 ([`ParamError::status`]).
    Refused(ParamError),
    /// 500: the replica could not be read.
    Unavailable,
}

impl From<ParamError> for Reply {
    fn from(e: ParamError) -> Self {
        Reply::Refused(e)
    }
}

impl From<ReadError> for Reply {
    fn from(_: ReadError) -> Self {
        Reply::Unavailable
    }
}

pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub const OCTET_STREAM: &str = "application/octet-stream";
const NO_CERTIFICATE: &str = "no certificate";

/// The answer to `endpoint` with these parameters at `now` (Unix seconds).
pub fn answer(endpoint: Endpoint, input: &Input<'_>, dir: &impl SshLookup, now: i64) -> Reply {
    let r = match endpoint {
        Endpoint::AuthKeys => authkeys(input, dir, now),
        Endpoint::AuthPrinc => authprinc(input, dir, now),
        Endpoint::UserCa | Endpoint::HostCa => ca_key(endpoint, dir),
        Endpoint::KrlCa => dir.ssh_global().map_err(Reply::from).map(|g| match &g.krl {
            Some(krl) => Reply::Shared(OCTET_STREAM, krl.raw.clone()),
            None => Reply::NotFound("no KRL yet"),
        }),
        Endpoint::UserCert => user_certs(input, dir, now),
        Endpoint::HostCert => host_certs(input, dir, now),
    };
    r.unwrap_or_else(|e| e)
}

fn nothing() -> Reply {
    Reply::Text(String::new())
}

/// The user and the host, both known and the user named exactly so; `Err(nothing)` else.
fn user_and_host(
    dir: &impl SshLookup,
    username: &str,
    hostname: &str,
) -> Result<(Rc<SshUserState>, Rc<SshHostState>), Reply> {
    let Some(user) = dir.ssh_user(username)?.filter(|u| u.username == username) else {
        return Err(nothing());
    };
    let Some(host) = dir.ssh_host(hostname)?.filter(|h| h.hostname == hostname) else {
        return Err(nothing());
    };
    Ok((user, host))
}

fn authkeys(input: &Input<'_>, dir: &impl SshLookup, now: i64) -> Result<Reply, Reply> {
    let p = AuthKeys::parse(input)?;
    let (user, host) = user_and_host(dir, &p.username, &p.host)?;
    let global = dir.ssh_global()?;
    let krl = global.krl().map_err(|_| nothing())?;
    let mut out = String::new();
    let keys = authorized_keys_matching(&user, &host.groups, p.fingerprint.as_ref(), krl, now);
    push_authorized_keys(keys, &mut out);
    Ok(Reply::Text(out))
}

fn authprinc(input: &Input<'_>, dir: &impl SshLookup, now: i64) -> Result<Reply, Reply> {
    let p = AuthPrinc::parse(input)?;
    let (user, host) = user_and_host(dir, &p.username, &p.host)?;
    let global = dir.ssh_global()?;
    let krl = global.krl().map_err(|_| nothing())?;
    // The certified key itself revoked: nothing, serial or not (as OpenSSH checks it).
    if let (Some(krl), Some(h)) = (krl, sha256_of_fingerprint(&p.fingerprint)) {
        if krl.revokes_key(&h) {
            return Ok(nothing());
        }
    }
    let ca = global.ca_blob(SshCaKind::User);
    let names = principals(
        &user,
        &host.groups,
        p.serial,
        Some(&p.fingerprint),
        ca,
        krl,
        now,
    );
    Ok(Reply::Text(render_principals(&names)))
}

fn ca_key(endpoint: Endpoint, dir: &impl SshLookup) -> Result<Reply, Reply> {
    let global = dir.ssh_global()?;
    let (ca, missing) = match endpoint {
        Endpoint::UserCa => (&global.user_ca, "no user CA yet"),
        _ => (&global.host_ca, "no host CA yet"),
    };
    Ok(match ca {
        Some(ca) => Reply::Shared(TEXT_PLAIN, ca.line.clone()),
        None => Reply::NotFound(missing),
    })
}

fn user_certs(input: &Input<'_>, dir: &impl SshLookup, now: i64) -> Result<Reply, Reply> {
    let q = CertQuery::user(input)?;
    let Some(user) = dir
        .ssh_user(&q.name)?
        .filter(|u| u.username == q.name && !u.locked)
    else {
        return Ok(Reply::NotFound(NO_CERTIFICATE));
    };
    let global = dir.ssh_global()?;
    certs(&user.certs, &q, &global, SshCaKind::User, now)
}

fn host_certs(input: &Input<'_>, dir: &impl SshLookup, now: i64) -> Result<Reply, Reply> {
    let q = CertQuery::host(input)?;
    let Some(host) = dir.ssh_host(&q.name)?.filter(|h| h.hostname == q.name) else {
        return Ok(Reply::NotFound(NO_CERTIFICATE));
    };
    let global = dir.ssh_global()?;
    certs(&host.certs, &q, &global, SshCaKind::Host, now)
}

/// The certificate lines `q` asks for; 404 when there are none.
fn certs(
    all: &[SshCertEntry],
    q: &CertQuery<'_>,
    global: &SshGlobal,
    kind: SshCaKind,
    now: i64,
) -> Result<Reply, Reply> {
    let krl = global.krl().map_err(|_| Reply::NotFound(NO_CERTIFICATE))?;
    let ca = global.ca_blob(kind);
    let mut out = String::new();
    let found = certificates(
        all,
        q.keyid.as_deref(),
        q.fingerprint.as_ref(),
        ca,
        krl,
        now,
    );
    push_certificates(found, &mut out);
    Ok(match out.is_empty() {
        true => Reply::NotFound(NO_CERTIFICATE),
        false => Reply::Text(out),
    })
}
