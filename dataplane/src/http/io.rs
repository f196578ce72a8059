//! Stream reads and writes with deadlines, and the graceful close.
//!
//! monoio operations own their buffers, and a timed-out operation must be ended, not dropped:
//! merely dropping an in-flight operation (the workspace builds monoio without `async-cancel`)
//! would leave it pending in io_uring, so closing the descriptor would not close the
//! connection of a stalled client. Two ways, both awaiting the operation, which hands the
//! buffer back and makes sure the kernel no longer holds the socket:
//! - where the connection must go on writing after the timeout (a request that did not arrive
//!   in time gets a 408; the graceful close), the operation carries a [`Canceller`] handle and
//!   is cancelled;
//! - on the hot path (the read between requests, response writes), after which a timeout only
//!   closes the connection, the operation carries none (a handle costs two hash-set updates
//!   per operation) and is ended by shutting the socket down ([`abort`]).
//!
//! A connection has one timer for all its deadlines ([`until`]), moved lazily: a fresh
//! `monoio::time::timeout` per read and per write cost two timer-wheel operations and two clock
//! reads per request, a few per cent of a request (docs/PERFORMANCE.md).
//!
//! Generic over the stream (monoio's cancelable owned-buffer traits), monomorphised per type:
//! a `TcpStream` for plain HTTP, [`crate::tls::TlsConn`] for https, whose operations pass the
//! cancel handle down to the socket operation beneath the TLS record layer.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use monoio::time::{sleep_until, Sleep};

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
    /// The connection's timer, armed at or before the current operation's deadline.
    timer: Pin<Box<Sleep>>,
}

impl<S: CancelableAsyncReadRent + CancelableAsyncWriteRent + AsRawFd> Io<S> {
    /// Must run inside a monoio runtime with its timer enabled. `first` is the first deadline
    /// the connection will have (the timer is only registered when first polled).
    pub fn new(stream: S, first: Instant) -> Self {
        Self {
            stream,
            canceller: Canceller::new(),
            timer: Box::pin(sleep_until(monoio::time::Instant::from_std(first))),
        }
    }

    /// [`read`](Self::read) between requests, where a timeout closes the connection without a
    /// response: the read is issued without a cancel handle (which costs two hash-set updates
    /// per operation in monoio) and a timeout ends it by shutting the socket down ([`abort`]).
    pub async fn read_idle(&mut self, buf: Vec<u8>, deadline: Instant) -> (ReadOutcome, Vec<u8>) {
        if buf.len() == buf.capacity() {
            // A zero-length read would look like end of stream.
            return (ReadOutcome::Failed(io::ErrorKind::OutOfMemory.into()), buf);
        }
        let fd = self.stream.as_raw_fd();
        let start = buf.len();
        let op = self.stream.read(buf.slice_mut(start..));
        let mut op = std::pin::pin!(op);
        match until(op.as_mut(), self.timer.as_mut(), deadline).await {
            Some(done) => read_outcome(done),
            None => match abort(fd, op, self.timer.as_mut()).await {
                Some((_, slice)) => (ReadOutcome::TimedOut, slice.into_inner()),
                None => (ReadOutcome::TimedOut, Vec::new()),
            },
        }
    }

    /// Appends to `buf`, which must have spare capacity, what one read returns by `deadline`.
    /// Cancelable: after a timeout the connection can still write (a 408).
    pub async fn read(&mut self, buf: Vec<u8>, deadline: Instant) -> (ReadOutcome, Vec<u8>) {
        if buf.len() == buf.capacity() {
            // A zero-length read would look like end of stream.
            return (ReadOutcome::Failed(io::ErrorKind::OutOfMemory.into()), buf);
        }
        let start = buf.len();
        let op = self
            .stream
            .cancelable_read(buf.slice_mut(start..), self.canceller.handle());
        let mut op = std::pin::pin!(op);
        match until(op.as_mut(), self.timer.as_mut(), deadline).await {
            Some(done) => read_outcome(done),
            None => {
                self.canceller = std::mem::take(&mut self.canceller).cancel();
                let (_, slice) = op.await;
                (ReadOutcome::TimedOut, slice.into_inner())
            }
        }
    }

    /// Writes all of `buf`; each write must make progress within `limit`. `now` is a recent
    /// reading of the clock (the first write's deadline runs from it; later ones read it).
    /// After a timeout the connection can only be closed: the writes are issued without a
    /// cancel handle and a timeout ends the one in flight by shutting the socket down.
    pub async fn write_all(
        &mut self,
        mut buf: Vec<u8>,
        limit: Duration,
        now: Instant,
    ) -> (WriteOutcome, Vec<u8>) {
        let mut done = 0;
        let mut deadline = now + limit;
        while done < buf.len() {
            if done > 0 {
                deadline = Instant::now() + limit;
            }
            let fd = self.stream.as_raw_fd();
            let op = self.stream.write(buf.slice(done..));
            let mut op = std::pin::pin!(op);
            let (res, slice) = match until(op.as_mut(), self.timer.as_mut(), deadline).await {
                Some(finished) => finished,
                None => {
                    return match abort(fd, op, self.timer.as_mut()).await {
                        Some((_, slice)) => (WriteOutcome::TimedOut, slice.into_inner()),
                        None => (WriteOutcome::TimedOut, Vec::new()),
                    };
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
        let deadline = Instant::now() + limit;
        let shut = {
            let op = self.stream.cancelable_shutdown(self.canceller.handle());
            let mut op = std::pin::pin!(op);
            match until(op.as_mut(), self.timer.as_mut(), deadline).await {
                Some(res) => res.is_ok(),
                None => {
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
            let (outcome, returned) = self.read(buf, deadline).await;
            buf = returned;
            buf.clear();
            match outcome {
                ReadOutcome::Data(n) => discarded += n,
                ReadOutcome::Eof | ReadOutcome::TimedOut | ReadOutcome::Failed(_) => return,
            }
        }
    }
}

fn read_outcome<T: IoBufMut>(
    (res, slice): (io::Result<usize>, monoio::buf::SliceMut<T>),
) -> (ReadOutcome, T) {
    match res {
        Ok(0) => (ReadOutcome::Eof, slice.into_inner()),
        Ok(n) => (ReadOutcome::Data(n), slice.into_inner()),
        Err(e) => (ReadOutcome::Failed(e), slice.into_inner()),
    }
}

/// How long [`abort`] waits for the shut-down socket's operation to finish.
const ABORT_WAIT: Duration = Duration::from_secs(1);

/// Ends `op`, a read or write on socket `fd` issued without a cancel handle that missed its
/// deadline, and returns its result (with the buffer). Shutting the socket down in both
/// directions completes a pending receive (end of stream) and send (`EPIPE`) under io_uring
/// and epoll alike; the connection is closed next in any case. Should the operation still not
/// finish within [`ABORT_WAIT`], it is dropped (`None`): monoio then keeps its buffer until the
/// kernel completes it, and the socket, already shut down, goes with it.
async fn abort<F: Future>(fd: RawFd, op: Pin<&mut F>, timer: Pin<&mut Sleep>) -> Option<F::Output> {
    // SAFETY: `fd` is the open socket of the stream `op` borrows, which outlives this call;
    // shutdown(2) neither closes nor invalidates it. (The third unsafe site in the crate, with
    // index/mapped.rs and index/prefetch.rs.)
    #[allow(unsafe_code)]
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR)
    };
    let out = until(op, timer, Instant::now() + ABORT_WAIT).await;
    if out.is_none() {
        tracing::warn!("socket operation did not end after shutdown; dropped");
    }
    out
}

/// Polls `op` until it finishes (`Some`) or `deadline` passes (`None`), with the connection's
/// one `timer`. The timer is moved only when it is armed later than `deadline` or fires before
/// it: a connection answering requests keeps pushing its deadlines forward, so the timer stays
/// where it is until it fires, then moves to the current deadline once (about once per
/// `write_timeout` on a busy connection instead of twice per request).
async fn until<F: Future>(
    mut op: Pin<&mut F>,
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
) -> Option<F::Output> {
    let deadline = monoio::time::Instant::from_std(deadline);
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    poll_fn(|cx| {
        if let Poll::Ready(out) = op.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while timer.as_mut().poll(cx).is_ready() {
            if timer.deadline() >= deadline {
                return Poll::Ready(None);
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await
}
