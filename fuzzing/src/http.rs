//! The data plane's HTTP/1.1 server: whole buffers through its request framing (head
//! parsing, `Content-Length` and chunked bodies, pipelining, refusals), as one read delivers
//! them to a connection.

use sigil_dataplane::http::fuzz_parse_requests;

/// Any bytes as everything a client sent on one connection: framing never panics, and the
/// requests complete in a prefix of the bytes are never more than in the whole (a request
/// is complete or refused on what precedes its end, never on what follows it).
pub fn http_requests(data: &[u8]) {
    let all = fuzz_parse_requests(data);
    for cut in [data.len() / 2, data.len().saturating_sub(1)] {
        let part = fuzz_parse_requests(&data[..cut]);
        assert!(part <= all, "{part} requests in {cut} bytes, {all} in all");
    }
}
