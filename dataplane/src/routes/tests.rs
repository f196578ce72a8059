//! The path table, and every OCSP route answered through one path: the same rule, the same
//! counts, the same bytes whether a response comes from the replica or the index.

use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Instant;

use sigil_shared::ocsp::{
    encode_request, error_response, CertIdFields, CertIdKey, HashAlg, IssuerHashes, ResponseStatus,
};
use sigil_shared::replication::{CaState, OcspEntry};
use sigil_shared::time::now_unix;
use sigil_storage::{Durability, MemStore, Store, WriteBatch};

use super::*;
use crate::config::IndexConfig;
use crate::index::build::build;
use crate::index::tests::response;
use crate::schema::cf;
use crate::stats::{self, CoreStats};
use crate::updates::Update;

#[test]
fn the_path_table() {
    use Method::{Get, Head, Other, Post};
    let cases: &[(Method, &str, Target<'_>)] = &[
        (Post, "/", Target::OcspPost),
        (Post, "/ocsp", Target::OcspPost),
        (Post, "/ocsp/", Target::OcspPost),
        (Get, "/ocsp", Target::NotAllowed(Route::OcspPost, "POST")),
        (Post, "/.well-known/pki/ocsp/ca1", Target::OcspPost),
        (
            Get,
            "/.well-known/pki/ocsp/ca1",
            Target::NotAllowed(Route::OcspPost, "POST"),
        ),
        (
            Head,
            "/.well-known/pki/ocsp/ca1/0a",
            Target::OcspSerial {
                issuer_id: "ca1",
                serial_hex: "0a",
            },
        ),
        (
            Post,
            "/.well-known/pki/ocsp/ca1/0a",
            Target::NotAllowed(Route::OcspGet, "GET, HEAD"),
        ),
        (Get, "/.well-known/pki/crl/ca1", Target::Crl("ca1")),
        (Get, "/crl/ca1.crl", Target::Crl("ca1")),
        (
            Post,
            "/crl/ca1.crl",
            Target::NotAllowed(Route::Crl, "GET, HEAD"),
        ),
        (Get, "/ca/ca1.pem", Target::CaCert("ca1.pem")),
        (
            Other,
            "/ca/ca1.pem",
            Target::NotAllowed(Route::CaCert, "GET, HEAD"),
        ),
        (Get, "/MEIw", Target::OcspGet("MEIw")),
        (Get, "/ocsp/MEIw", Target::OcspGet("MEIw")),
        (Get, "/ocsp//MEIw", Target::OcspGet("/MEIw")),
        (Get, "/crl/ca1", Target::OcspGet("crl/ca1")),
        (Post, "/MEIw", Target::NotAllowed(Route::Other, "GET, HEAD")),
        (Get, "", Target::OcspGet("")),
        (Get, "/api/authkeys", Target::Ssh(Endpoint::AuthKeys)),
        (Post, "/api/authprinc", Target::Ssh(Endpoint::AuthPrinc)),
        (Head, "/api/userca", Target::Ssh(Endpoint::UserCa)),
        (Get, "/api/hostca", Target::Ssh(Endpoint::HostCa)),
        (Post, "/api/krlca", Target::Ssh(Endpoint::KrlCa)),
        (Get, "/api/usercert", Target::Ssh(Endpoint::UserCert)),
        (Get, "/api/hostcert", Target::Ssh(Endpoint::HostCert)),
        (
            Method::Put,
            "/api/authkeys",
            Target::NotAllowed(Route::SshAuthkeys, "GET, HEAD, POST"),
        ),
        (
            Method::Delete,
            "/api/authprinc",
            Target::NotAllowed(Route::SshAuthprinc, "GET, HEAD, POST"),
        ),
        (
            Other,
            "/api/krlca",
            Target::NotAllowed(Route::SshOther, "GET, HEAD, POST"),
        ),
        // Anything else under /api/ is what it was: no OCSP request, so 404.
        (Get, "/api/authkeys/", Target::OcspGet("api/authkeys/")),
        (Get, "/api/users", Target::OcspGet("api/users")),
        (
            Post,
            "/api/users",
            Target::NotAllowed(Route::Other, "GET, HEAD"),
        ),
    ];
    for (method, path, want) in cases {
        assert_eq!(route(*method, path), *want, "{method:?} {path}");
    }
}

/// A request-target that does not start with '/' is taken whole, whatever its first
/// character: httparse passes bytes ≥ 0x80, and `GET Ѯ HTTP/1.1` once panicked slicing inside
/// 'Ѯ' (found by the `ocsp_get_path` fuzz target; fuzz/regressions/ocsp_get_path/).
#[test]
fn a_target_without_a_leading_slash_is_taken_whole() {
    assert_eq!(route(Method::Get, "Ѯ"), Target::OcspGet("Ѯ"));
    assert_eq!(route(Method::Head, "éMEIw"), Target::OcspGet("éMEIw"));
    assert_eq!(route(Method::Get, "MEIw"), Target::OcspGet("MEIw"));
    assert_eq!(route(Method::Get, "*"), Target::OcspGet("*"));
    let router = core().router;
    for target in ["Ѯ", "Ѯ?x=1", "\u{10ffff}"] {
        let (status, _, _) = call(&router, Method::Get, target, &[], b"");
        assert_eq!(status, 404, "{target}");
    }
}

const ISSUER: &str = "ca1";

fn cert_key(alg: HashAlg, serial: &[u8]) -> CertIdKey {
    let n = alg.digest_len();
    CertIdKey::new(alg, &vec![1; n], &vec![0xfe; n], serial)
}

fn put_ocsp(store: &dyn Store, key: &CertIdKey, next_update: i64) -> Vec<u8> {
    let der = response(key, &[vec![0x30, 0x03, 1, 2, 3]], false, 64);
    let e = OcspEntry {
        key: key.clone(),
        issuer_id: ISSUER.into(),
        der: der.clone(),
        this_update: 1_700_000_100,
        next_update,
    };
    let mut b = WriteBatch::new();
    b.put(cf::OCSP, key.0.clone(), postcard::to_stdvec(&e).unwrap());
    store.write(b, Durability::Buffered).unwrap();
    der
}

/// A core's router, its stats, replica and update channel, and the responses it serves.
struct Fixture {
    router: Router,
    stats: Arc<CoreStats>,
    store: Arc<dyn Store>,
    updates: Sender<Update>,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
}

/// A core serving a replica with one CA, a valid response for serial 0x42 (SHA-1 and
/// SHA-256 CertIDs) and an expired one for 0x43.
fn core() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let ca = CaState {
        issuer_id: ISSUER.into(),
        name: "CA 1".into(),
        cert_der: vec![0x30, 0x00],
        hashes: HashAlg::ALL
            .iter()
            .map(|&alg| IssuerHashes {
                alg,
                name_hash: vec![1; alg.digest_len()],
                key_hash: vec![0xfe; alg.digest_len()],
            })
            .collect(),
    };
    let mut b = WriteBatch::new();
    b.put(
        cf::CAS,
        ISSUER.as_bytes().to_vec(),
        postcard::to_stdvec(&ca).unwrap(),
    );
    store.write(b, Durability::Buffered).unwrap();
    let later = now_unix() + 3600;
    let sha1 = put_ocsp(store.as_ref(), &cert_key(HashAlg::Sha1, &[0x42]), later);
    let sha256 = put_ocsp(store.as_ref(), &cert_key(HashAlg::Sha256, &[0x42]), later);
    put_ocsp(
        store.as_ref(),
        &cert_key(HashAlg::Sha256, &[0x43]),
        1_700_600_000,
    );
    let (tx, rx) = channel();
    let stats = Arc::new(CoreStats::default());
    let index = IndexConfig {
        enabled: true,
        ..IndexConfig::default()
    };
    let core = CoreState::new(store.clone(), rx, stats.clone(), 100, 1 << 20, &index);
    Fixture {
        router: Router::new(Rc::new(core)),
        stats,
        store,
        updates: tx,
        sha1,
        sha256,
    }
}

/// Header fields of a response, in order.
pub(super) type Headers = Vec<(String, Vec<u8>)>;

/// Status, headers and body of the router's response to one request.
pub(super) fn call(
    router: &Router,
    method: Method,
    target: &str,
    headers: &[httparse::Header<'_>],
    body: &[u8],
) -> (u16, Headers, Vec<u8>) {
    let req = Request {
        method,
        target,
        version: 1,
        headers,
        body,
        received: Instant::now(),
        peer: &crate::http::Peer::default(),
    };
    let mut out = Vec::new();
    router.handle(&req, &mut ResponseWriter::for_tests(&mut out));
    let mut parsed = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut parsed);
    let httparse::Status::Complete(len) = resp.parse(&out).unwrap() else {
        panic!("incomplete response");
    };
    let headers = resp
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    (resp.code.unwrap(), headers, out[len..].to_vec())
}

pub(super) fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| &v[..])
}

fn request(alg: HashAlg, serial: &[u8]) -> Vec<u8> {
    let n = alg.digest_len();
    encode_request(&[CertIdFields::new(alg, &vec![1; n], &vec![0xfe; n], serial)])
}

fn counted(stats: &Arc<CoreStats>) -> String {
    let mut out = String::new();
    stats::render(std::slice::from_ref(stats), &mut out);
    out.lines()
        .filter(|l| l.starts_with("sigil_dp_ocsp_responses_total") && !l.ends_with(" 0"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_ocsp_route_is_counted_by_status() {
    let Fixture {
        router,
        stats,
        sha256,
        ..
    } = core();
    let path = |rest: &str| format!("/.well-known/pki/ocsp/{rest}");
    let unauthorized = error_response(ResponseStatus::Unauthorized);
    for (target, want) in [
        (path("no-such-ca/42"), unauthorized),
        (path("ca1/99"), unauthorized),
        (
            path("ca1/zz"),
            error_response(ResponseStatus::MalformedRequest),
        ),
        (path("ca1/43"), error_response(ResponseStatus::TryLater)),
    ] {
        let (status, headers, body) = call(&router, Method::Get, &target, &[], b"");
        assert_eq!((status, body), (200, want.to_vec()), "{target}");
        assert_eq!(
            header(&headers, "Cache-Control"),
            Some(&b"max-age=0, no-cache"[..])
        );
    }
    let (status, _, body) = call(&router, Method::Get, &path("ca1/0x0042"), &[], b"");
    assert_eq!((status, body), (200, sha256));
    assert_eq!(
        counted(&stats),
        "sigil_dp_ocsp_responses_total{status=\"successful\"} 1\n\
         sigil_dp_ocsp_responses_total{status=\"malformed_request\"} 1\n\
         sigil_dp_ocsp_responses_total{status=\"try_later\"} 1\n\
         sigil_dp_ocsp_responses_total{status=\"unauthorized\"} 2"
    );

    // The DER routes count the same way; a GET path that is not base64 is no OCSP request.
    let Fixture { router, stats, .. } = core();
    let expired = request(HashAlg::Sha256, &[0x43]);
    call(&router, Method::Post, "/", &[], &expired);
    call(&router, Method::Post, &path("ca1"), &[], b"\x30\x00");
    call(&router, Method::Get, "/favicon.ico", &[], b"");
    call(&router, Method::Other, "/", &[], b"");
    assert_eq!(
        counted(&stats),
        "sigil_dp_ocsp_responses_total{status=\"malformed_request\"} 1\n\
         sigil_dp_ocsp_responses_total{status=\"try_later\"} 1"
    );
    let mut text = String::new();
    stats::render(std::slice::from_ref(&stats), &mut text);
    for line in [
        "sigil_dp_requests_total{route=\"ocsp_post\",status=\"200\"} 2",
        "sigil_dp_requests_total{route=\"ocsp_post\",status=\"405\"} 1",
        "sigil_dp_requests_total{route=\"other\",status=\"404\"} 1",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

/// Everything but the per-request `Date` and `Cache-Control`.
fn entity_headers(headers: &Headers) -> Headers {
    let per_request =
        |n: &str| n.eq_ignore_ascii_case("date") || n.eq_ignore_ascii_case("cache-control");
    headers
        .iter()
        .filter(|(n, _)| !per_request(n))
        .cloned()
        .collect()
}

#[test]
fn replica_and_index_answers_are_the_same_bytes() {
    let Fixture {
        router,
        stats,
        store,
        updates,
        sha1,
        sha256,
    } = core();
    let der = request(HashAlg::Sha1, &[0x42]);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
    let from_replica = call(&router, Method::Post, "/ocsp", &[], &der);
    assert_eq!((from_replica.0, &from_replica.2), (200, &sha1));

    // Served again from an index (the cache is dropped with the reset).
    updates.send(Update::Reset(store.clone())).unwrap();
    let (index, _) = build(store.as_ref(), tempfile::tempdir().unwrap().path(), 1).unwrap();
    updates.send(Update::Index(Arc::new(index))).unwrap();
    let from_index = call(&router, Method::Get, &format!("/ocsp/{b64}"), &[], b"");
    assert!(stats_line(&stats, "sigil_dp_index_lookups_total 1"));
    assert_eq!((from_index.0, &from_index.2), (200, &sha1));
    assert_eq!(
        entity_headers(&from_index.1),
        entity_headers(&from_replica.1)
    );
    assert!(header(&from_index.1, "Cache-Control")
        .unwrap()
        .ends_with(b", public, no-transform, must-revalidate"));

    // 304 for a client that has it, with the validators only.
    let etag = header(&from_index.1, "ETag").unwrap().to_vec();
    let inm = [httparse::Header {
        name: "If-None-Match",
        value: &etag,
    }];
    let (status, headers, body) = call(&router, Method::Get, &format!("/{b64}"), &inm, b"");
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(header(&headers, "ETag"), Some(&etag[..]));
    assert_eq!(header(&headers, "Content-Type"), None);
    assert_eq!(header(&headers, "Last-Modified"), None);
    // certctl's by-serial path answers from the index too: the SHA-256 response.
    let (status, _, body) = call(
        &router,
        Method::Get,
        "/.well-known/pki/ocsp/ca1/42",
        &[],
        b"",
    );
    assert_eq!((status, body), (200, sha256));
    assert!(stats_line(&stats, "sigil_dp_index_lookups_total 3"));
}

fn stats_line(stats: &Arc<CoreStats>, line: &str) -> bool {
    let mut out = String::new();
    stats::render(std::slice::from_ref(stats), &mut out);
    out.lines().any(|l| l == line)
}
