//! One load thread: its connections, its epoll instance, its share of the schedule, and its
//! statistics (sent to the main thread once per second, returned in total at the end).

use std::sync::mpsc::Sender;
use std::time::Duration;

use mio::{Events, Poll, Token};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::conn::{Conn, Progress, State};
use super::recorder::Recorder;
use super::{window_seconds, Mode, Shared};
use crate::http::encode_request;
use crate::schedule::Schedule;
use crate::stats::{ErrorKind, Second, Totals};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// Wait before reconnecting after a failed connection attempt.
const RETRY_NS: u64 = 100 * MS;
/// Connection set-up before the start is given up after this long (the run then retries).
const SETUP_NS: u64 = 5 * SEC;

/// Worker `id` with `n` connections; returns its totals.
pub(super) fn run(
    id: usize,
    n: usize,
    cpu: Option<usize>,
    shared: &Shared,
    tx: Sender<Second>,
) -> Result<Totals, String> {
    if let Some(cpu) = cpu {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            eprintln!("sigil-load: could not pin thread {id} to CPU {cpu}");
        }
    }
    let mut w = Worker::new(id, n, shared, tx);
    if let Ok(w) = &mut w {
        w.establish();
    }
    shared.barrier.wait();
    shared.barrier.wait();
    let w = w?;
    let start = *shared
        .start_ns
        .get()
        .expect("set before the second barrier");
    w.run(start)
}

struct Worker<'a> {
    id: usize,
    shared: &'a Shared,
    poll: Poll,
    events: Events,
    ready: Vec<usize>,
    conns: Vec<Conn>,
    idle: Vec<usize>,
    busy: usize,
    rng: SmallRng,
    scratch: Vec<u8>,
    rec: Recorder,
    // Timeline (ns on the run's clock), set by `run`.
    start: u64,
    measure: u64,
    end: u64,
    drain_end: u64,
    // Open loop.
    schedule: Option<Schedule>,
    next_k: u64,
    /// First request index intended at or after the end of the window.
    last_k: u64,
    /// First request index intended within the window.
    first_counted_k: u64,
}

impl<'a> Worker<'a> {
    fn new(id: usize, n: usize, shared: &'a Shared, tx: Sender<Second>) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
        Ok(Worker {
            id,
            shared,
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            conns: (0..n).map(|_| Conn::new()).collect(),
            idle: Vec::with_capacity(n),
            busy: 0,
            rng: SmallRng::seed_from_u64(
                shared.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            scratch: Vec::with_capacity(1024),
            rec: Recorder::new(tx, window_seconds(Duration::from_nanos(shared.duration_ns))),
            start: u64::MAX,
            measure: u64::MAX,
            end: u64::MAX,
            drain_end: u64::MAX,
            schedule: None,
            next_k: 0,
            last_k: 0,
            first_counted_k: 0,
        })
    }

    fn now(&self) -> u64 {
        self.shared.base.elapsed().as_nanos() as u64
    }

    /// Opens every connection and waits (bounded) until each is ready or has failed.
    fn establish(&mut self) {
        let now = self.now();
        for i in 0..self.conns.len() {
            self.open(i, now);
        }
        let deadline = now + SETUP_NS.min(self.shared.timeout_ns);
        while self
            .conns
            .iter()
            .any(|c| matches!(c.state, State::Connecting | State::Handshaking))
        {
            let now = self.now();
            if now >= deadline {
                for i in 0..self.conns.len() {
                    if matches!(self.conns[i].state, State::Connecting | State::Handshaking) {
                        self.failed(i, State::Connecting, ErrorKind::Connect, now);
                    }
                }
                break;
            }
            self.poll_once(Duration::from_nanos((deadline - now).min(10 * MS)));
            let now = self.now();
            self.handle_ready(now);
        }
    }

    fn run(mut self, start: u64) -> Result<Totals, String> {
        let s = self.shared;
        self.start = start;
        self.measure = start + s.warmup_ns;
        self.end = self.measure + s.duration_ns;
        self.drain_end = self.end + s.timeout_ns;
        self.rec.set_window(self.measure, self.end);
        if let Mode::Open { rate } = s.mode {
            let sched = Schedule::for_thread(start, rate, s.threads, self.id);
            self.last_k = sched.first_at_or_after(self.end);
            self.first_counted_k = sched.first_at_or_after(self.measure);
            self.rec.totals.intended = self.last_k - self.first_counted_k;
            self.schedule = Some(sched);
        }
        let mut last_check = 0;
        loop {
            let now = self.now();
            self.rec.roll(now);
            if now >= self.drain_end {
                self.give_up(now);
                break;
            }
            if now >= self.end && self.busy == 0 && self.next_k >= self.last_k {
                break;
            }
            if now >= last_check + 10 * MS {
                last_check = now;
                self.check_timeouts(now);
                self.retry_down(now);
            }
            self.dispatch(now);
            let wait = self.poll_wait(now);
            self.poll_once(wait);
            let now = self.now();
            self.rec.roll(now);
            self.handle_ready(now);
        }
        Ok(self.rec.finish())
    }

    fn poll_once(&mut self, wait: Duration) {
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => eprintln!("sigil-load: epoll_wait: {e}"),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|e| e.token().0));
    }

    /// How long to sleep in epoll: until the next deadline, at most 10 ms. The next open-loop
    /// send is hit precisely: epoll's timeout has millisecond granularity, so the last
    /// millisecond before it is spent polling without sleeping.
    fn poll_wait(&self, now: u64) -> Duration {
        if self.shared.busy_poll {
            return Duration::ZERO;
        }
        let mut coarse = now + 10 * MS;
        for t in [self.start, self.measure, self.end, self.drain_end] {
            if t > now {
                coarse = coarse.min(t);
            }
        }
        let mut wait = coarse - now;
        if let Some(s) = &self.schedule {
            if !self.idle.is_empty() && self.next_k < self.last_k && now >= self.start {
                let due = s.intended(self.next_k).saturating_sub(now);
                let precise = if due <= 3 * MS / 2 { 0 } else { due - MS };
                wait = wait.min(precise);
            }
        }
        Duration::from_nanos(wait)
    }

    fn handle_ready(&mut self, now: u64) {
        for r in 0..self.ready.len() {
            let i = self.ready[r];
            let was = self.conns[i].state;
            match self.conns[i].on_event(&*self.shared.scenario) {
                Ok(Progress::Nothing) => {}
                Ok(Progress::Ready) => self.ready_for_request(i, now),
                Ok(Progress::Done(c)) => {
                    self.busy -= 1;
                    let conn = &self.conns[i];
                    self.rec.completed(conn.intended_ns, conn.counted, &c, now);
                    if c.close {
                        self.open(i, now);
                    } else {
                        self.ready_for_request(i, now);
                    }
                }
                Ok(Progress::Closed) => self.open(i, now),
                Err(kind) => self.failed(i, was, kind, now),
            }
        }
    }

    /// A request or connection attempt on connection `i` failed.
    fn failed(&mut self, i: usize, was: State, kind: ErrorKind, now: u64) {
        let c = &mut self.conns[i];
        c.close(self.poll.registry());
        if was == State::Busy {
            self.busy -= 1;
            let counted = c.counted;
            self.rec.error(kind, counted, now);
            self.open(i, now);
        } else {
            self.rec.error(ErrorKind::Connect, true, now);
            self.conns[i].retry_ns = now.saturating_add(RETRY_NS);
        }
    }

    /// Starts (re)connecting connection `i`; a failure to even start counts as a connect
    /// error and is retried later.
    fn open(&mut self, i: usize, now: u64) {
        let s = self.shared;
        let r = self.conns[i].open(
            self.poll.registry(),
            Token(i),
            s.target.addr,
            s.tls.as_ref(),
            now,
        );
        if r.is_err() {
            self.conns[i].close(self.poll.registry());
            self.rec.error(ErrorKind::Connect, true, now);
            self.conns[i].retry_ns = now.saturating_add(RETRY_NS);
        }
    }

    fn retry_down(&mut self, now: u64) {
        let wanted = now < self.end || self.next_k < self.last_k;
        if !wanted {
            return;
        }
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.state == State::Down && c.retry_ns <= now {
                self.open(i, now);
            }
        }
    }

    /// Requests slower than the timeout fail; so do connection attempts.
    fn check_timeouts(&mut self, now: u64) {
        let limit = self.shared.timeout_ns;
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let late = now.saturating_sub(c.since_ns) > limit;
            match c.state {
                State::Busy if late => self.failed(i, State::Busy, ErrorKind::Timeout, now),
                State::Connecting | State::Handshaking if late => {
                    self.failed(i, State::Connecting, ErrorKind::Connect, now)
                }
                _ => {}
            }
        }
    }

    /// A connection is idle: send on it now if a request is due, else park it.
    fn ready_for_request(&mut self, i: usize, now: u64) {
        match self.shared.mode {
            Mode::Closed if now >= self.start && now < self.end => {
                self.send(i, now, now, now >= self.measure)
            }
            Mode::Open { .. } => match self.due_request(now) {
                Some((intended, counted)) => self.send(i, now, intended, counted),
                None => self.idle.push(i),
            },
            Mode::Closed => self.idle.push(i),
        }
    }

    /// Open loop: the next request whose intended time has come, if any.
    fn due_request(&mut self, now: u64) -> Option<(u64, bool)> {
        let s = self.schedule.as_ref()?;
        if self.next_k >= self.last_k || s.intended(self.next_k) > now {
            return None;
        }
        let k = self.next_k;
        self.next_k += 1;
        Some((s.intended(k), k >= self.first_counted_k))
    }

    /// Puts parked connections to work: closed loop at the start, open loop as requests
    /// come due.
    fn dispatch(&mut self, now: u64) {
        while let Some(&i) = self.idle.last() {
            if self.conns[i].state != State::Idle {
                self.idle.pop();
                continue;
            }
            let next = match self.shared.mode {
                Mode::Closed if now >= self.start && now < self.end => {
                    Some((now, now >= self.measure))
                }
                Mode::Closed => None,
                Mode::Open { .. } => self.due_request(now),
            };
            let Some((intended, counted)) = next else {
                return;
            };
            self.idle.pop();
            self.send(i, now, intended, counted);
        }
    }

    fn send(&mut self, i: usize, now: u64, intended: u64, counted: bool) {
        let s = self.shared;
        let item = s.chooser.choose(&mut self.rng);
        let req = s.scenario.request(item);
        self.scratch.clear();
        if s.target.prefix.is_empty() {
            encode_request(&req, &req.path, &s.target.authority, &mut self.scratch);
        } else {
            let path = s.target.path(&req.path);
            encode_request(&req, &path, &s.target.authority, &mut self.scratch);
        }
        let c = &mut self.conns[i];
        c.intended_ns = intended;
        c.counted = counted;
        self.busy += 1;
        if let Err(kind) = c.send(&self.scratch, now) {
            self.failed(i, State::Busy, kind, now);
        }
    }

    /// At the end of the drain: what is still in flight timed out, what was never sent is
    /// reported as unsent.
    fn give_up(&mut self, now: u64) {
        for i in 0..self.conns.len() {
            if self.conns[i].state == State::Busy {
                self.busy -= 1;
                let counted = self.conns[i].counted;
                self.rec.error(ErrorKind::Timeout, counted, now);
            }
            self.conns[i].close(self.poll.registry());
        }
        let unsent = self.last_k - self.next_k.clamp(self.first_counted_k, self.last_k);
        self.rec.totals.errors.add(ErrorKind::Unsent, unsent);
        self.next_k = self.last_k;
    }
}
