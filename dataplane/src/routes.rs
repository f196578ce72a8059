//! Request routing for the public listener. One `Router` per core.
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/`, `/ocsp` | OCSP (RFC 6960 A.1 POST) |
//! | GET/HEAD | `/{base64}`, `/ocsp/{base64}` | OCSP (RFC 6960 A.1 GET) |
//! | POST | `/.well-known/pki/ocsp/{issuer_id}` | OCSP (certctl) |
//! | GET/HEAD | `/.well-known/pki/ocsp/{issuer_id}/{serial_hex}` | OCSP by serial (certctl) |
//! | GET/HEAD | `/.well-known/pki/crl/{issuer_id}`, `/crl/{issuer_id}.crl` | DER CRL |
//! | GET/HEAD | `/ca/{issuer_id}.cer`, `/ca/{issuer_id}.pem` | CA certificate (AIA CA Issuers) |

use std::cell::RefCell;
use std::rc::Rc;

use sigil_shared::ocsp::{error_response, HashAlg, ResponseStatus};

use crate::core::CoreState;
use crate::http::{Handler, Method, Request, ResponseWriter};
use crate::index::Index;
use crate::ocsp::{decode_get_path, select, Answer, Found};
use crate::render::{etag_matches, quoted_etag, Rendered, OCSP_ERROR_HEAD};
use crate::stats::Route;

pub struct Router {
    core: Rc<CoreState>,
    /// Per-request header lines (`Date`, `Cache-Control`), reused across requests.
    dynamic: RefCell<Vec<u8>>,
    /// Entity headers of a response served from the index, reused across requests.
    head: RefCell<Vec<u8>>,
}

impl Router {
    pub fn new(core: Rc<CoreState>) -> Self {
        Self {
            core,
            dynamic: RefCell::new(Vec::with_capacity(128)),
            head: RefCell::new(Vec::with_capacity(256)),
        }
    }
}

const TEXT: &[(&str, &[u8])] = &[
    ("Content-Type", b"text/plain; charset=utf-8"),
    ("Cache-Control", b"no-store"),
];

impl Handler for Router {
    fn handle(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        self.core.sync();
        let (route, status) = self.dispatch(req, resp);
        self.core
            .stats
            .record(route, status, req.received.elapsed());
    }
}

fn is_get(m: Method) -> bool {
    matches!(m, Method::Get | Method::Head)
}

impl Router {
    fn dispatch(&self, req: &Request<'_>, resp: &mut ResponseWriter<'_>) -> (Route, u16) {
        let path = req.target.split('?').next().unwrap_or("");
        match (req.method, path) {
            (Method::Post, "/" | "/ocsp" | "/ocsp/") => {
                (Route::OcspPost, self.ocsp(req, req.body, resp))
            }
            (_, "/" | "/ocsp" | "/ocsp/") => (Route::OcspPost, method_not_allowed(resp, "POST")),
            _ => {
                if let Some(rest) = path.strip_prefix("/.well-known/pki/ocsp/") {
                    return self.certctl_ocsp(req, rest, resp);
                }
                if let Some(id) = path.strip_prefix("/.well-known/pki/crl/") {
                    return (Route::Crl, self.crl(req, id, resp));
                }
                if let Some(id) = path
                    .strip_prefix("/crl/")
                    .and_then(|p| p.strip_suffix(".crl"))
                {
                    return (Route::Crl, self.crl(req, id, resp));
                }
                if let Some(file) = path.strip_prefix("/ca/") {
                    return (Route::CaCert, self.ca_cert(req, file, resp));
                }
                let encoded = path
                    .strip_prefix("/ocsp/")
                    .unwrap_or(&path[path.len().min(1)..]);
                if !is_get(req.method) {
                    return (Route::Other, method_not_allowed(resp, "GET, HEAD"));
                }
                match decode_get_path(encoded) {
                    Some(der) => (Route::OcspGet, self.ocsp(req, &der, resp)),
                    None => (Route::Other, not_found(resp)),
                }
            }
        }
    }

    fn ocsp(&self, req: &Request<'_>, der: &[u8], resp: &mut ResponseWriter<'_>) -> u16 {
        let now = self.core.clock.now(req.received);
        match select(der, self.core.as_ref(), now) {
            Answer::Found(found) => {
                self.core.stats.ocsp_status(0);
                self.found(req, &found, now, resp)
            }
            Answer::Error(status) => {
                self.core.stats.ocsp_status(match status {
                    ResponseStatus::MalformedRequest => 1,
                    ResponseStatus::TryLater => 2,
                    _ => 3,
                });
                ocsp_error(status, resp)
            }
        }
    }

    fn found(
        &self,
        req: &Request<'_>,
        found: &Found,
        now: i64,
        resp: &mut ResponseWriter<'_>,
    ) -> u16 {
        match found {
            Found::Rendered(r) => self.cached(req, r, now, resp),
            Found::Indexed { index, offset, .. } => self.indexed(req, index, *offset, now, resp),
        }
    }

    /// A response from the index: the same headers a [`Rendered`] entry has, written now.
    fn indexed(
        &self,
        req: &Request<'_>,
        index: &Index,
        offset: usize,
        now: i64,
        resp: &mut ResponseWriter<'_>,
    ) -> u16 {
        let Some(e) = index.entry_at(offset) else {
            return ocsp_error(ResponseStatus::InternalError, resp);
        };
        let etag = quoted_etag(&e.etag);
        let mut dynamic = self.dynamic.borrow_mut();
        dynamic.clear();
        self.core
            .clock
            .dynamic_headers(now, e.next_update, &mut dynamic);
        let mut head = self.head.borrow_mut();
        head.clear();
        let validators = self.core.clock.push_entity_head(
            &mut head,
            b"application/ocsp-response",
            e.this_update,
            e.next_update,
            &etag,
        );
        if req
            .header("if-none-match")
            .is_some_and(|v| etag_matches(v, &etag))
        {
            resp.respond_raw(304, &head[validators..], &dynamic, &[]);
            return 304;
        }
        // Assembled straight into the output buffer: one copy out of the mapped file.
        resp.respond_raw_with(200, &head, &dynamic, index.response_len(&e), |out| {
            index.write_response(&e, out)
        });
        200
    }

    /// 200 with the pre-rendered entity, or 304 if the client already has it.
    fn cached(
        &self,
        req: &Request<'_>,
        r: &Rendered,
        now: i64,
        resp: &mut ResponseWriter<'_>,
    ) -> u16 {
        let mut dynamic = self.dynamic.borrow_mut();
        dynamic.clear();
        self.core
            .clock
            .dynamic_headers(now, r.next_update, &mut dynamic);
        if req.header("if-none-match").is_some_and(|v| r.matches(v)) {
            resp.respond_raw(304, &r.head_304, &dynamic, &[]);
            return 304;
        }
        resp.respond_raw(200, &r.head, &dynamic, &r.body);
        200
    }

    /// certctl: `POST …/ocsp/{issuer_id}` (body is a request) or `GET …/ocsp/{issuer_id}/{serial_hex}`.
    fn certctl_ocsp(
        &self,
        req: &Request<'_>,
        rest: &str,
        resp: &mut ResponseWriter<'_>,
    ) -> (Route, u16) {
        match (req.method, rest.split_once('/')) {
            (Method::Post, None) => (Route::OcspPost, self.ocsp(req, req.body, resp)),
            (m, Some((issuer_id, serial_hex))) if is_get(m) => {
                let Some(ca) = self.core.ca(issuer_id) else {
                    return (
                        Route::OcspGet,
                        ocsp_error(ResponseStatus::Unauthorized, resp),
                    );
                };
                // Hex of the serial's INTEGER content; leading zero octets are allowed and
                // normalised away before the RFC 5280 §4.1.2.2 limit of 20 octets applies.
                let raw = hex::decode(serial_hex.trim_start_matches("0x")).unwrap_or_default();
                let serial = match sigil_shared::der::canonical_uint(&raw) {
                    Ok(s) if s.len() <= 20 && raw.len() <= 64 => s.to_vec(),
                    _ => {
                        return (
                            Route::OcspGet,
                            ocsp_error(ResponseStatus::MalformedRequest, resp),
                        )
                    }
                };
                // Prefer the SHA-256 CertID response, fall back to SHA-1.
                let now = self.core.clock.now(req.received);
                let found = [HashAlg::Sha256, HashAlg::Sha1]
                    .iter()
                    .filter_map(|alg| ca.state.hashes.iter().find(|h| h.alg == *alg))
                    .find_map(|h| self.core.ocsp(h.key_for(&serial).as_bytes()));
                let status = match found {
                    Some(r) if r.next_update() > now => {
                        self.core.stats.ocsp_status(0);
                        self.found(req, &r, now, resp)
                    }
                    Some(_) => ocsp_error(ResponseStatus::TryLater, resp),
                    None => ocsp_error(ResponseStatus::Unauthorized, resp),
                };
                (Route::OcspGet, status)
            }
            (_, None) => (Route::OcspPost, method_not_allowed(resp, "POST")),
            (_, Some(_)) => (Route::OcspGet, method_not_allowed(resp, "GET, HEAD")),
        }
    }

    fn crl(&self, req: &Request<'_>, issuer_id: &str, resp: &mut ResponseWriter<'_>) -> u16 {
        if !is_get(req.method) {
            return method_not_allowed(resp, "GET, HEAD");
        }
        match self.core.crl(issuer_id) {
            Some(r) => {
                let now = self.core.clock.now(req.received);
                self.cached(req, &r, now, resp)
            }
            None => not_found(resp),
        }
    }

    fn ca_cert(&self, req: &Request<'_>, file: &str, resp: &mut ResponseWriter<'_>) -> u16 {
        if !is_get(req.method) {
            return method_not_allowed(resp, "GET, HEAD");
        }
        let found = if let Some(id) = file
            .strip_suffix(".cer")
            .or_else(|| file.strip_suffix(".der"))
        {
            self.core.ca(id).map(|c| c.cer.clone())
        } else if let Some(id) = file.strip_suffix(".pem") {
            self.core.ca(id).map(|c| c.pem.clone())
        } else {
            None
        };
        match found {
            Some(r) => {
                let now = self.core.clock.now(req.received);
                self.cached(req, &r, now, resp)
            }
            None => not_found(resp),
        }
    }
}

/// An unsuccessful OCSPResponse is still HTTP 200 (RFC 6960 A.1), never cached.
fn ocsp_error(status: ResponseStatus, resp: &mut ResponseWriter<'_>) -> u16 {
    resp.respond_raw(200, OCSP_ERROR_HEAD, &[], &error_response(status));
    200
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
