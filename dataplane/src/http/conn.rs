//! The per-connection loop: read once, answer every complete request in the buffer, write
//! once (RFC 9112 §9.3 persistence, §9.3.2 pipelining, §9.6 tear-down).

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent};
use monoio::net::TcpStream;

use super::chunked::buffer_bound;
use super::dispatch::{process, Next, Progress, State};
use super::io::{Io, ReadOutcome, WriteOutcome};
use super::response::{write_timeout, ResponseWriter};
use super::{bump, Handler, HttpStats, Limits, Peer};

/// Initial read buffer: a few pipelined OCSP requests (each a few hundred bytes).
const READ_BUF_INITIAL: usize = 4096;
/// An output buffer that grew beyond this (a large CRL) is released after the write.
const OUT_RETAIN_MAX: usize = 256 * 1024;
/// Upper bound on the graceful-close wait (also bounded by `request_timeout`).
const LINGER_MAX: Duration = Duration::from_secs(2);

/// Serves one TCP connection until it closes.
///
/// Connection counters in [`HttpStats`] are [`serve`](super::serve)'s; this updates the
/// request counters only.
pub async fn serve_connection<H: Handler>(
    stream: TcpStream,
    handler: &H,
    limits: &Limits,
    stats: &HttpStats,
) {
    // Responses are written whole, once per batch: no reason to let Nagle delay them.
    let _ = stream.set_nodelay(true);
    serve_stream(stream, handler, limits, stats, &Peer::default()).await;
}

/// Serves one connection over any stream until it closes: [`serve_connection`] without the
/// TCP socket option, e.g. for a TLS session ([`crate::tls::TlsConn`]) on an accepted socket.
/// Monomorphised per stream type: the plain path pays nothing for the generality.
pub async fn serve_stream<S, H>(
    stream: S,
    handler: &H,
    limits: &Limits,
    stats: &HttpStats,
    peer: &Peer,
) where
    S: CancelableAsyncReadRent + CancelableAsyncWriteRent + AsRawFd,
    H: Handler,
{
    // A recent reading of the clock: the start of the last batch that answered a request, or
    // a fresh reading where there was none. Deadlines run from it (microseconds early at most).
    let mut now = Instant::now();
    let mut io = Io::new(stream, now + limits.idle_timeout);
    let mut input: Vec<u8> = Vec::with_capacity(READ_BUF_INITIAL);
    let mut out: Vec<u8> = Vec::new();
    let mut state = State::default();
    // When the first byte of the request being received arrived (None while idle).
    let mut started: Option<Instant> = None;
    let linger = limits.request_timeout.min(LINGER_MAX);
    loop {
        let Progress { consumed, next } = process(
            &mut input,
            &mut out,
            &mut state,
            handler,
            (limits, stats, peer),
        );
        input.drain(..consumed);
        now = state.received.take().unwrap_or_else(Instant::now);
        if input.is_empty() {
            started = None;
        } else if consumed > 0 || started.is_none() {
            started = Some(now);
        }
        let need = match next {
            Next::Read { need } => need,
            Next::Flush => {
                if !flush(&mut io, &mut out, limits, stats, now).await {
                    return;
                }
                continue;
            }
            Next::Close => {
                if flush(&mut io, &mut out, limits, stats, now).await {
                    io.linger(input, linger).await;
                }
                return;
            }
            Next::Deferred => {
                let Some((deferred, keep_alive, head_only, http10)) = state.deferred.take() else {
                    continue;
                };
                if !out.is_empty() && !flush(&mut io, &mut out, limits, stats, now).await {
                    return;
                }
                let mut r = deferred.await;
                let headers: Vec<(&str, &[u8])> =
                    r.headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
                let mut rw = ResponseWriter::new(&mut out, keep_alive, head_only, http10);
                if let Some(stream) = r.stream.as_mut() {
                    rw.streamed_head(r.status, &headers);
                    let chunked = !rw.is_http10();
                    drop(headers);
                    stream_body(&mut io, &mut out, stream.as_mut(), chunked, limits, stats).await;
                    return;
                }
                rw.respond(r.status, &headers, &r.body);
                let keep = rw.keep_alive();
                now = Instant::now();
                if !flush(&mut io, &mut out, limits, stats, now).await {
                    return;
                }
                if !keep {
                    io.linger(input, linger).await;
                    return;
                }
                started = (!input.is_empty()).then_some(now);
                continue;
            }
        };
        if !out.is_empty() && !flush(&mut io, &mut out, limits, stats, now).await {
            return;
        }
        if input.is_empty() && input.capacity() > READ_BUF_INITIAL {
            input.shrink_to(READ_BUF_INITIAL);
        }
        if !make_room(&mut input, need, limits) {
            tracing::warn!(need, "cannot grow the read buffer; closing");
            return;
        }
        let deadline = match started {
            None => now + limits.idle_timeout,
            Some(t) => t + limits.request_timeout,
        };
        let (outcome, returned) = if started.is_none() {
            io.read_idle(input, deadline).await
        } else {
            io.read(input, deadline).await
        };
        input = returned;
        match outcome {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Eof => return,
            ReadOutcome::Failed(e) => {
                tracing::debug!(error = %e, "read failed");
                return;
            }
            // Idle keep-alive connection: close without a response.
            ReadOutcome::TimedOut if started.is_none() => return,
            ReadOutcome::TimedOut => {
                bump(&stats.timeouts);
                tracing::debug!("request not complete within request_timeout");
                write_timeout(&mut out, limits.errors);
                if flush(&mut io, &mut out, limits, stats, Instant::now()).await {
                    io.linger(input, linger).await;
                }
                return;
            }
        }
    }
}

/// Writes what `out` holds (a streamed response's head), then every piece of `stream` as it
/// comes (chunked when `chunked`), until the stream ends or a write fails (the client left).
async fn stream_body<S>(
    io: &mut Io<S>,
    out: &mut Vec<u8>,
    stream: &mut dyn super::BodyStream,
    chunked: bool,
    limits: &Limits,
    stats: &HttpStats,
) where
    S: CancelableAsyncReadRent + CancelableAsyncWriteRent + AsRawFd,
{
    if !flush(io, out, limits, stats, Instant::now()).await {
        return;
    }
    while let Some(piece) = stream.next().await {
        if piece.is_empty() {
            continue;
        }
        if chunked {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(&piece);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(&piece);
        }
        if !flush(io, out, limits, stats, Instant::now()).await {
            return;
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
        flush(io, out, limits, stats, Instant::now()).await;
    }
}

/// Writes `out` and empties it; false if the connection must be abandoned. `now` is a recent
/// reading of the clock.
async fn flush<S>(
    io: &mut Io<S>,
    out: &mut Vec<u8>,
    limits: &Limits,
    stats: &HttpStats,
    now: Instant,
) -> bool
where
    S: CancelableAsyncReadRent + CancelableAsyncWriteRent + AsRawFd,
{
    let (outcome, mut buf) = io
        .write_all(std::mem::take(out), limits.write_timeout, now)
        .await;
    buf.clear();
    if buf.capacity() > OUT_RETAIN_MAX {
        buf = Vec::new();
    }
    *out = buf;
    match outcome {
        WriteOutcome::Done => true,
        WriteOutcome::TimedOut => {
            bump(&stats.timeouts);
            tracing::debug!("write made no progress within write_timeout");
            false
        }
        WriteOutcome::Failed => false,
    }
}

/// Ensures the read buffer has spare capacity and, once the pending request's size (`need`)
/// is known, room for all of it. Never beyond [`buffer_bound`] (or the initial size), which
/// `process` guarantees is enough for any acceptable request.
fn make_room(buf: &mut Vec<u8>, need: usize, limits: &Limits) -> bool {
    let max = buffer_bound(limits).max(READ_BUF_INITIAL);
    let target = if need > buf.capacity() {
        need
    } else if buf.len() == buf.capacity() {
        buf.capacity()
            .saturating_mul(2)
            .clamp(READ_BUF_INITIAL, max)
    } else {
        return true;
    };
    target > buf.len() && buf.try_reserve_exact(target - buf.len()).is_ok()
}
