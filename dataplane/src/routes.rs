//! Request routing for the public listener: method and path → what is asked for ([`route`]),
//! then the answer (`crate::answer`). One `Router` per core.
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/`, `/ocsp` | OCSP (RFC 6960 A.1 POST) |
//! | GET/HEAD | `/{base64}`, `/ocsp/{base64}` | OCSP (RFC 6960 A.1 GET) |
//! | POST | `/.well-known/pki/ocsp/{issuer_id}` | OCSP (certctl) |
//! | GET/HEAD | `/.well-known/pki/ocsp/{issuer_id}/{serial_hex}` | OCSP by serial (certctl) |
//! | GET/HEAD | `/.well-known/pki/crl/{issuer_id}`, `/crl/{issuer_id}.crl` | DER CRL |
//! | GET/HEAD | `/ca/{issuer_id}.cer`, `/ca/{issuer_id}.pem` | CA certificate (AIA CA Issuers) |
//! | GET/HEAD/POST | `/api/authkeys`, `/api/authprinc`, `/api/userca`, `/api/hostca`, `/api/krlca`, `/api/usercert`, `/api/hostcert` | SSH lookups (`crate::ssh`) |

use std::rc::Rc;

use crate::answer::{Answers, Query};
use crate::core::CoreState;
use crate::http::{Handler, Method, Request, ResponseWriter};
use crate::ocsp::decode_get_path;
use crate::ssh::{self, Endpoint};
use crate::stats::Route;

/// What a request asks for, from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A DER OCSPRequest in the body.
    OcspPost,
    /// A path that is, if anything, the base64 of a DER OCSPRequest.
    OcspGet(&'a str),
    /// certctl's OCSP by serial.
    OcspSerial {
        issuer_id: &'a str,
        serial_hex: &'a str,
    },
    Crl(&'a str),
    /// `{issuer_id}.cer`, `.der` or `.pem`.
    CaCert(&'a str),
    /// An SSH lookup (GET, HEAD or POST).
    Ssh(Endpoint),
    /// 405 with this `Allow`, counted under this route.
    NotAllowed(Route, &'static str),
}

fn is_get(m: Method) -> bool {
    matches!(m, Method::Get | Method::Head)
}

/// The path table. `path` is the request-target without its query.
pub fn route(method: Method, path: &str) -> Target<'_> {
    match (method, path) {
        (Method::Post, "/" | "/ocsp" | "/ocsp/") => return Target::OcspPost,
        (_, "/" | "/ocsp" | "/ocsp/") => return Target::NotAllowed(Route::OcspPost, "POST"),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/.well-known/pki/ocsp/") {
        return match (method, rest.split_once('/')) {
            (Method::Post, None) => Target::OcspPost,
            (m, Some((issuer_id, serial_hex))) if is_get(m) => Target::OcspSerial {
                issuer_id,
                serial_hex,
            },
            (_, None) => Target::NotAllowed(Route::OcspPost, "POST"),
            (_, Some(_)) => Target::NotAllowed(Route::OcspGet, "GET, HEAD"),
        };
    }
    let crl = path.strip_prefix("/.well-known/pki/crl/").or_else(|| {
        path.strip_prefix("/crl/")
            .and_then(|p| p.strip_suffix(".crl"))
    });
    if let Some(id) = crl {
        return match is_get(method) {
            true => Target::Crl(id),
            false => Target::NotAllowed(Route::Crl, "GET, HEAD"),
        };
    }
    if let Some(endpoint) = Endpoint::from_path(path) {
        return match method {
            Method::Get | Method::Head | Method::Post => Target::Ssh(endpoint),
            _ => Target::NotAllowed(endpoint.route(), ssh::ALLOW),
        };
    }
    if let Some(file) = path.strip_prefix("/ca/") {
        return match is_get(method) {
            true => Target::CaCert(file),
            false => Target::NotAllowed(Route::CaCert, "GET, HEAD"),
        };
    }
    if !is_get(method) {
        return Target::NotAllowed(Route::Other, "GET, HEAD");
    }
    // Not `&path[1..]`: a request-target need not start with '/' nor with an ASCII character
    // (httparse passes any byte ≥ 0x80), and slicing inside a character panics.
    Target::OcspGet(
        path.strip_prefix("/ocsp/")
            .or_else(|| path.strip_prefix('/'))
            .unwrap_or(path),
    )
}

pub struct Router {
    answers: Answers,
}

impl Router {
    pub fn new(core: Rc<CoreState>) -> Self {
        Self {
            answers: Answers::new(core),
        }
    }
}

const TEXT: &[(&str, &[u8])] = &[
    ("Content-Type", b"text/plain; charset=utf-8"),
    ("Cache-Control", b"no-store"),
];

impl Handler for Router {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        let core = self.answers.core();
        core.sync();
        let (route, status) = self.dispatch(req, resp);
        core.stats.record(route, status, req.received.elapsed());
    }
}

impl Router {
    fn dispatch(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) -> (Route, u16) {
        let path = req.target.split('?').next().unwrap_or("");
        let answers = &self.answers;
        match route(req.method, path) {
            Target::OcspPost => (
                Route::OcspPost,
                answers.ocsp(req, Query::Request(req.body), resp),
            ),
            Target::OcspGet(encoded) => match decode_get_path(encoded) {
                Some(der) => (
                    Route::OcspGet,
                    answers.ocsp(req, Query::Request(&der), resp),
                ),
                None => (Route::Other, not_found(resp)),
            },
            Target::OcspSerial {
                issuer_id,
                serial_hex,
            } => {
                let query = Query::Serial {
                    issuer_id,
                    serial_hex,
                };
                (Route::OcspGet, answers.ocsp(req, query, resp))
            }
            Target::Crl(id) => (
                Route::Crl,
                match answers.core().crl(id) {
                    Some(r) => answers.entity(req, &r, resp),
                    None => not_found(resp),
                },
            ),
            Target::CaCert(file) => (Route::CaCert, self.ca_cert(req, file, resp)),
            Target::Ssh(endpoint) => {
                let core = answers.core();
                let now = core.clock.now(req.received);
                (endpoint.route(), ssh::serve(endpoint, req, core, now, resp))
            }
            Target::NotAllowed(route, allow) => (route, method_not_allowed(resp, allow)),
        }
    }

    fn ca_cert(&self, req: &Request<'_>, file: &str, resp: &mut ResponseWriter<'_>) -> u16 {
        let core = self.answers.core();
        let found = if let Some(id) = file
            .strip_suffix(".cer")
            .or_else(|| file.strip_suffix(".der"))
        {
            core.ca(id).map(|c| c.cer.clone())
        } else if let Some(id) = file.strip_suffix(".pem") {
            core.ca(id).map(|c| c.pem.clone())
        } else {
            None
        };
        match found {
            Some(r) => self.answers.entity(req, &r, resp),
            None => not_found(resp),
        }
    }
}

fn not_found(resp: &mut ResponseWriter<'_>) -> u16 {
    resp.respond(404, TEXT, b"not found\n");
    404
}

fn method_not_allowed(resp: &mut ResponseWriter<'_>, allow: &str) -> u16 {
    resp.respond(
        405,
        &[TEXT[0], TEXT[1], ("Allow", allow.as_bytes())],
        b"method not allowed\n",
    );
    405
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ssh;
