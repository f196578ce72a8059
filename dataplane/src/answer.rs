//! The answer to a request, built in one place: for every OCSP route the selection
//! ([`crate::ocsp`], one rule for all), its count in the stats, and the bytes — a pre-rendered
//! entity, an index entry with its headers written now, or an unsuccessful OCSPResponse —; for
//! CRLs and CA certificates the same pre-rendered entities. `Date` and `Cache-Control` are
//! written per request (RFC 5019 §6.2); a matching `If-None-Match` gets 304 with the
//! validators only (RFC 9110 §13.1.2, §15.4.5).

use std::cell::RefCell;
use std::rc::Rc;

use sigil_shared::ocsp::{error_response, ResponseStatus};

use crate::core::CoreState;
use crate::http::{Request, ResponseWriter};
use crate::index::{Index, Located};
use crate::ocsp::{decide, select, select_by_serial, Answer, Found};
use crate::render::{etag_matches, quoted_etag, Rendered, OCSP_ERROR_HEAD};

/// What an OCSP route asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query<'a> {
    /// A DER OCSPRequest: a POST body or a decoded GET path (RFC 6960 A.1).
    Request(&'a [u8]),
    /// certctl's `…/ocsp/{issuer_id}/{serial_hex}`.
    Serial {
        issuer_id: &'a str,
        serial_hex: &'a str,
    },
}

/// Builds answers for one core. The header buffers are reused across requests.
pub struct Answers {
    core: Rc<CoreState>,
    /// Per-request header lines (`Date`, `Cache-Control`).
    dynamic: RefCell<Vec<u8>>,
    /// Entity headers of a response served from the index.
    head: RefCell<Vec<u8>>,
}

impl Answers {
    pub fn new(core: Rc<CoreState>) -> Self {
        Self {
            core,
            dynamic: RefCell::new(Vec::with_capacity(128)),
            head: RefCell::new(Vec::with_capacity(256)),
        }
    }

    pub fn core(&self) -> &CoreState {
        &self.core
    }

    /// Answers an OCSP query, counts the answer's status, writes it; returns the HTTP status.
    pub fn ocsp(&self, req: &Request<'_>, query: Query<'_>, resp: &mut ResponseWriter<'_>) -> u16 {
        let now = self.core.clock.now(req.received);
        let answer = self.select(query, now);
        self.core.stats.ocsp_response(answer.status(), now);
        match answer {
            Answer::Found(Found::Rendered(r)) => self.rendered(req, &r, now, resp),
            Answer::Found(Found::Indexed { index, entry }) => {
                self.indexed(req, &index, &entry, now, resp)
            }
            Answer::Error(status) => ocsp_error(status, resp),
        }
    }

    /// The selection for `query` from this core's cache, index and replica.
    fn select(&self, query: Query<'_>, now: i64) -> Answer {
        let core = self.core.as_ref();
        match query {
            Query::Request(der) => select(der, core, now),
            Query::Serial {
                issuer_id,
                serial_hex,
            } => match core.ca(issuer_id) {
                Some(ca) => select_by_serial(&ca.state.hashes, serial_hex, core, now),
                None => decide(None, now),
            },
        }
    }

    /// A pre-rendered entity (CRL, CA certificate) as of the request's time.
    pub fn entity(&self, req: &Request<'_>, r: &Rendered, resp: &mut ResponseWriter<'_>) -> u16 {
        let now = self.core.clock.now(req.received);
        self.rendered(req, r, now, resp)
    }

    /// 200 with the pre-rendered entity, or 304 if the client already has it.
    fn rendered(
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

    /// A response from the index: the same headers a [`Rendered`] entry has, written now.
    fn indexed(
        &self,
        req: &Request<'_>,
        index: &Index,
        entry: &Located,
        now: i64,
        resp: &mut ResponseWriter<'_>,
    ) -> u16 {
        let Some(e) = index.entry(entry) else {
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
}

/// An unsuccessful OCSPResponse is still HTTP 200 (RFC 6960 A.1), never cached.
fn ocsp_error(status: ResponseStatus, resp: &mut ResponseWriter<'_>) -> u16 {
    resp.respond_raw(200, OCSP_ERROR_HEAD, &[], &error_response(status));
    200
}
