//! Entry point for fuzzing the request framing: whole buffers through the code the connection
//! loop runs, without sockets.

use super::dispatch::{process, Next, State};
use super::{Handler, HttpStats, Limits, Peer, Request, ResponseWriter};

/// Answers every request with an empty 200.
struct Empty;

impl Handler for Empty {
    fn handle(&self, _req: &Request<'_>, resp: &mut ResponseWriter<'_>) {
        resp.respond(200, &[], b"");
    }
}

/// Feeds `data` to the server's framing (head parsing, `Content-Length` and chunked bodies,
/// pipelining) with default [`Limits`], as if it had all arrived in one read, and returns how
/// many complete requests it found before the buffer ran out, a request was incomplete or one
/// was refused. Never panics, for any input. For fuzz targets (`fuzz/`), not for serving.
#[doc(hidden)]
pub fn fuzz_parse_requests(data: &[u8]) -> usize {
    let limits = Limits::default();
    let stats = HttpStats::default();
    let peer = Peer::default();
    let mut state = State::default();
    let mut out = Vec::new();
    // The connection's read buffer: chunked bodies are decoded in place.
    let mut input = data.to_vec();
    loop {
        let progress = process(
            &mut input,
            &mut out,
            &mut state,
            &Empty,
            (&limits, &stats, &peer),
        );
        input.drain(..progress.consumed);
        out.clear();
        match progress.next {
            // The output was written; go on with the rest of the buffer.
            Next::Flush => continue,
            Next::Read { .. } | Next::Close | Next::Deferred => break,
        }
    }
    usize::try_from(stats.requests.get()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::fuzz_parse_requests;

    #[test]
    fn http_fuzz_entry_counts_pipelined_requests() {
        let two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(fuzz_parse_requests(two), 2);
        assert_eq!(fuzz_parse_requests(&two[..two.len() - 1]), 1);
        assert_eq!(fuzz_parse_requests(b""), 0);
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
            3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(fuzz_parse_requests(chunked), 2);
        assert_eq!(fuzz_parse_requests(&chunked[..60]), 0);
        assert_eq!(fuzz_parse_requests(b"\x00GET"), 0);
        // Refused after the first: the rest is never parsed.
        let refused = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(fuzz_parse_requests(refused), 1);
    }
}
