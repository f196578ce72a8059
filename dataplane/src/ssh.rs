//! The SSH key service's lookups on the public listeners (Keyper's "Utilities", issue 18):
//! what sshd's `AuthorizedKeysCommand` / `AuthorizedPrincipalsCommand` (through
//! `sigil-authkeys`) and fleet tooling ask, answered per core from the replica's `ssh_*`
//! column families by the rules of `sigil_ssh::lookup`.
//!
//! | path | parameters (query, or POST form) | 200 |
//! |---|---|---|
//! | `/api/authkeys` | `username`, `host`, [`fingerprint`] | authorized_keys lines (`text/plain`), maybe none |
//! | `/api/authprinc` | `username`, `host`, `fingerprint`, [`serial`] | principals, one a line, maybe none |
//! | `/api/userca`, `/api/hostca` | — | the CA's public key line (404 until replicated) |
//! | `/api/krlca` | — | the binary KRL, `application/octet-stream` (404 until replicated) |
//! | `/api/usercert` | `username`, [`keyid`], [`fingerprint`] | certificate lines (404 when none) |
//! | `/api/hostcert` | `hostname`, [`keyid`], [`fingerprint`] | certificate lines (404 when none) |
//!
//! GET, HEAD and POST; other methods 405. A bad parameter is 400 (a POST body that is not a
//! form 415) with a one-line reason; a replica read error 500. Every answer `no-store`.
//!
//! | module | role |
//! |---|---|
//! | `params` | the parameters: form decoding, validation (sans-io) |
//! | `directory` | [`SshLookup`]: where answers read users, hosts, CAs and the KRL |
//! | `view` | [`SshView`]: a core's bounded caches over the replica |
//! | `answers` | [`answer`]: the rules → [`Reply`] |

mod answers;
mod directory;
mod params;
mod view;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

pub use answers::{answer, Reply, OCTET_STREAM, TEXT_PLAIN};
pub use directory::{CaKey, KrlData, Looked, ReadError, SshGlobal, SshLookup};
pub use params::{Input, ParamError};
pub use view::SshView;

use crate::http::{Method, Request, ResponseWriter};
use crate::stats::Route;

/// The methods every SSH path takes (Keyper: GET or POST; HEAD as GET).
pub const ALLOW: &str = "GET, HEAD, POST";

/// An SSH lookup path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    AuthKeys,
    AuthPrinc,
    UserCa,
    HostCa,
    KrlCa,
    UserCert,
    HostCert,
}

impl Endpoint {
    /// The endpoint at `path` (without the query), if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path.strip_prefix("/api/")? {
            "authkeys" => Endpoint::AuthKeys,
            "authprinc" => Endpoint::AuthPrinc,
            "userca" => Endpoint::UserCa,
            "hostca" => Endpoint::HostCa,
            "krlca" => Endpoint::KrlCa,
            "usercert" => Endpoint::UserCert,
            "hostcert" => Endpoint::HostCert,
            _ => return None,
        })
    }

    /// The label its requests are counted under.
    pub fn route(self) -> Route {
        match self {
            Endpoint::AuthKeys => Route::SshAuthkeys,
            Endpoint::AuthPrinc => Route::SshAuthprinc,
            _ => Route::SshOther,
        }
    }
}

/// Answers one request for `endpoint` from `dir` at `now`; returns the HTTP status.
pub fn serve(
    endpoint: Endpoint,
    req: &Request<'_>,
    dir: &impl SshLookup,
    now: i64,
    resp: &mut ResponseWriter<'_>,
) -> u16 {
    let input = Input {
        query: req.target.split_once('?').map(|(_, q)| q),
        body: (req.method == Method::Post).then_some(req.body),
        content_type: req.header("content-type"),
    };
    respond(&answer(endpoint, &input, dir, now), resp)
}

/// Writes `reply`; returns its status.
pub fn respond(reply: &Reply, resp: &mut ResponseWriter<'_>) -> u16 {
    let headers = |ct: &'static str| {
        [
            ("Content-Type", ct.as_bytes()),
            ("Cache-Control", b"no-store"),
        ]
    };
    let (status, reason) = match reply {
        Reply::Text(text) => {
            resp.respond(200, &headers(TEXT_PLAIN), text.as_bytes());
            return 200;
        }
        Reply::Shared(ct, body) => {
            resp.respond(200, &headers(ct), body);
            return 200;
        }
        Reply::NotFound(why) => (404, (*why).to_string()),
        Reply::Refused(e) => (e.status(), e.to_string()),
        Reply::Unavailable => (500, "replica read failed".to_string()),
    };
    resp.respond(
        status,
        &headers(TEXT_PLAIN),
        format!("{reason}\n").as_bytes(),
    );
    status
}
