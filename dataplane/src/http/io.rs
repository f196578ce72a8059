//! Stream reads and writes with time limits, and the graceful close.
//!
//! monoio operations own their buffers. A timed-out operation is cancelled through a
//! [`Canceller`] and then awaited, which hands the buffer back and, under io_uring, makes sure
//! the kernel no longer holds the socket: merely dropping an in-flight operation (the workspace
//! builds monoio without `async-cancel`) would leave the read pending, so closing the
//! descriptor would not close the connection of a stalled client.
//!
//! Generic over the stream (monoio's cancelable owned-buffer traits), monomorphised per type:
//! a `TcpStream` for plain HTTP, [`crate::tls::TlsConn`] for https, whose operations pass the
//! cancel handle down to the socket operation beneath the TLS record layer.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use monoio::time::{timeout, Instant};

/// At most this much is read and discarded while lingering before a close.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// How a read ended.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    /// This many bytes were appended to the buffer.
    Data(usize),
    /// The peer closed (or half-closed) its side.
    Eof,
    TimedOut,
    Failed(io::Error),
}

/// How a write ended.
#[derive(Debug)]
pub(super) enum WriteOutcome {
    Done,
    /// One write made no progress within the limit.
    TimedOut,
    Failed,
}

/// A connection's stream with the canceller of its operations (one per connection: reusing
/// it keeps the read path free of allocations).
pub(super) struct Io<S> {
    stream: S,
    canceller: Canceller,
}

impl<S: CancelableAsyncReadRent + CancelableAsyncWriteRent> Io<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            canceller: Canceller::new(),
        }
    }

    /// Appends to `buf`, which must have spare capacity, what one read returns within `limit`.
    pub async fn read(&mut self, buf: Vec<u8>, limit: Duration) -> (ReadOutcome, Vec<u8>) {
        if buf.len() == buf.capacity() {
            // A zero-length read would look like end of stream.
            return (ReadOutcome::Failed(io::ErrorKind::OutOfMemory.into()), buf);
        }
        let start = buf.len();
        let op = self
            .stream
            .cancelable_read(buf.slice_mut(start..), self.canceller.handle());
        let mut op = std::pin::pin!(op);
        match timeout(limit, op.as_mut()).await {
            Ok((Ok(0), slice)) => (ReadOutcome::Eof, slice.into_inner()),
            Ok((Ok(n), slice)) => (ReadOutcome::Data(n), slice.into_inner()),
            Ok((Err(e), slice)) => (ReadOutcome::Failed(e), slice.into_inner()),
            Err(_elapsed) => {
                self.canceller = std::mem::take(&mut self.canceller).cancel();
                let (_, slice) = op.await;
                (ReadOutcome::TimedOut, slice.into_inner())
            }
        }
    }

    /// Writes all of `buf`; each write must make progress within `limit`.
    pub async fn write_all(
        &mut self,
        mut buf: Vec<u8>,
        limit: Duration,
    ) -> (WriteOutcome, Vec<u8>) {
        let mut done = 0;
        while done < buf.len() {
            let op = self
                .stream
                .cancelable_write(buf.slice(done..), self.canceller.handle());
            let mut op = std::pin::pin!(op);
            let (res, slice) = match timeout(limit, op.as_mut()).await {
                Ok(finished) => finished,
                Err(_elapsed) => {
                    self.canceller = std::mem::take(&mut self.canceller).cancel();
                    let (_, slice) = op.await;
                    return (WriteOutcome::TimedOut, slice.into_inner());
                }
            };
            buf = slice.into_inner();
            match res {
                Ok(0) | Err(_) => return (WriteOutcome::Failed, buf),
                Ok(n) => done += n,
            }
        }
        (WriteOutcome::Done, buf)
    }

    /// Graceful close after the last response (RFC 9112 §9.6): half-close, then read and
    /// discard until the client closes, `limit` passes or [`LINGER_MAX_BYTES`] were discarded.
    /// Closing with unread input would make the kernel send a reset, which can destroy the
    /// response before the client reads it (e.g. a 413 sent while the body is still arriving).
    ///
    /// The half-close is bounded by `limit` too: on TCP it is a plain `shutdown(2)`, but TLS
    /// first writes a close_notify alert (RFC 8446 §6.1), which a client that stopped reading
    /// could block forever.
    pub async fn linger(&mut self, mut buf: Vec<u8>, limit: Duration) {
        let started = Instant::now();
        let shut = {
            let op = self.stream.cancelable_shutdown(self.canceller.handle());
            let mut op = std::pin::pin!(op);
            match timeout(limit, op.as_mut()).await {
                Ok(res) => res.is_ok(),
                Err(_elapsed) => {
                    self.canceller = std::mem::take(&mut self.canceller).cancel();
                    let _ = op.await;
                    false
                }
            }
        };
        if !shut {
            return;
        }
        let mut discarded = 0;
        buf.clear();
        buf.reserve(4096);
        while discarded < LINGER_MAX_BYTES {
            let remaining = limit.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return;
            }
            let (outcome, returned) = self.read(buf, remaining).await;
            buf = returned;
            buf.clear();
            match outcome {
                ReadOutcome::Data(n) => discarded += n,
                ReadOutcome::Eof | ReadOutcome::TimedOut | ReadOutcome::Failed(_) => return,
            }
        }
    }
}
