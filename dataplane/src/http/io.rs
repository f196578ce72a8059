//! Socket reads and writes with time limits, and the graceful close.
//!
//! monoio operations own their buffers. A timed-out operation is cancelled through a
//! [`Canceller`] and then awaited, which hands the buffer back and, under io_uring, makes sure
//! the kernel no longer holds the socket: merely dropping an in-flight operation (the workspace
//! builds monoio without `async-cancel`) would leave the read pending, so closing the
//! descriptor would not close the connection of a stalled client.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncWriteRent, CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use monoio::net::TcpStream;
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

/// A connection's socket with the canceller of its operations (one per connection: reusing
/// it keeps the read path free of allocations).
pub(super) struct Io {
    stream: TcpStream,
    canceller: Canceller,
}

impl Io {
    pub fn new(stream: TcpStream) -> Self {
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
    pub async fn linger(&mut self, mut buf: Vec<u8>, limit: Duration) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let started = Instant::now();
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
