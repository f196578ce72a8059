//! Whether one replica (a token holding a key) is in rotation, as a pure state machine: every
//! transition takes the current time from the caller, so the schedule is tested with a fake
//! clock and no I/O.
//!
//! A replica starts `Unknown` (usable, never tried), is `Up` after a success and `Down` after a
//! failure. A `Down` replica is skipped by signers and re-probed in the background: first
//! [`FIRST_PROBE`] after it went down, then at doubling intervals capped at
//! [`MAX_PROBE_INTERVAL`]. After [`REINIT_AFTER_PROBES`] failed probes a probe may also
//! re-initialise the module (the prober decides whether that is allowed).

use std::time::{Duration, Instant};

/// Delay before the first background probe of a replica that went down.
pub const FIRST_PROBE: Duration = Duration::from_millis(500);
/// The longest interval between two probes of a replica that stays down.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(4);
/// Failed probes after which every further probe may re-initialise the module.
pub const REINIT_AFTER_PROBES: u32 = 2;

/// The delay after the `n`-th consecutive failure (0-based): 0.5 s, 1 s, 2 s, 4 s, 4 s, ...
/// Also paces login attempts after a refused PIN.
pub fn backoff(n: u32) -> Duration {
    FIRST_PROBE
        .saturating_mul(1u32 << n.min(16))
        .min(MAX_PROBE_INTERVAL)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    /// Never tried since this process opened the key: usable.
    Unknown,
    Up,
    /// Out of rotation until a background probe succeeds.
    Down,
}

/// What a background probe should do beyond looking the key up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Open a session on the token's slot (found again), log in, find the key.
    Reopen,
    /// As `Reopen`, and if that fails, re-initialise the module (when no healthy replica uses
    /// it) and try once more.
    Reinitialize,
}

/// A change worth one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    None,
    WentDown,
    /// Down with another reason than before.
    ReasonChanged,
    CameBack {
        down_for: Duration,
        failed_probes: u32,
    },
}

#[derive(Debug, Clone)]
pub struct ReplicaState {
    availability: Availability,
    error: Option<String>,
    /// Why a re-initialisation was not done (a healthy replica uses the module).
    note: Option<String>,
    down_since: Option<Instant>,
    failed_probes: u32,
    next_probe: Option<Instant>,
    probing: bool,
}

impl Default for ReplicaState {
    fn default() -> Self {
        Self {
            availability: Availability::Unknown,
            error: None,
            note: None,
            down_since: None,
            failed_probes: 0,
            next_probe: None,
            probing: false,
        }
    }
}

impl ReplicaState {
    pub fn availability(&self) -> Availability {
        self.availability
    }

    /// Signers use `Unknown` and `Up` replicas, never `Down` ones.
    pub fn usable(&self) -> bool {
        self.availability != Availability::Down
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub fn down_since(&self) -> Option<Instant> {
        self.down_since
    }

    pub fn failed_probes(&self) -> u32 {
        self.failed_probes
    }

    /// When the next background probe is due (`Down` only).
    pub fn next_probe(&self) -> Option<Instant> {
        self.next_probe
    }

    /// An operation (signing, key lookup, probe) succeeded.
    pub fn succeeded(&mut self, now: Instant) -> Change {
        let change = match (self.availability, self.down_since) {
            (Availability::Down, Some(since)) => Change::CameBack {
                down_for: now.saturating_duration_since(since),
                failed_probes: self.failed_probes,
            },
            _ => Change::None,
        };
        *self = Self {
            availability: Availability::Up,
            ..Self::default()
        };
        change
    }

    /// An operation failed with `error`: out of rotation, first probe after [`FIRST_PROBE`].
    /// Failures while already down keep the probe schedule.
    pub fn failed(&mut self, now: Instant, error: String) -> Change {
        if self.availability == Availability::Down {
            let changed = self.error.as_deref() != Some(error.as_str());
            self.error = Some(error);
            return if changed {
                Change::ReasonChanged
            } else {
                Change::None
            };
        }
        self.availability = Availability::Down;
        self.error = Some(error);
        self.note = None;
        self.down_since = Some(now);
        self.failed_probes = 0;
        self.next_probe = Some(now + FIRST_PROBE);
        Change::WentDown
    }

    /// Starts the background probe if one is due and none is running.
    pub fn start_probe(&mut self, now: Instant) -> Option<ProbeKind> {
        if self.availability != Availability::Down || self.probing {
            return None;
        }
        if self.next_probe.is_some_and(|t| t > now) {
            return None;
        }
        self.probing = true;
        Some(if self.failed_probes >= REINIT_AFTER_PROBES {
            ProbeKind::Reinitialize
        } else {
            ProbeKind::Reopen
        })
    }

    /// The running probe succeeded.
    pub fn probe_succeeded(&mut self, now: Instant) -> Change {
        self.probing = false;
        self.succeeded(now)
    }

    /// The running probe failed: next one after the backoff. `note` says why the module was
    /// not re-initialised (kept until a probe says otherwise).
    pub fn probe_failed(&mut self, now: Instant, error: String, note: Option<String>) -> Change {
        self.probing = false;
        let was_down = self.availability == Availability::Down;
        let mut change = self.failed(now, error);
        if was_down {
            self.next_probe = Some(now + backoff(self.failed_probes + 1));
            self.failed_probes += 1;
        }
        if note.is_some() && note != self.note && change == Change::None {
            change = Change::ReasonChanged;
        }
        self.note = note;
        change
    }

    /// Probe as soon as possible (another replica of the token or module came back).
    pub fn probe_soon(&mut self, now: Instant) {
        if self.availability == Availability::Down {
            self.next_probe = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    struct FakeClock(Instant);

    impl FakeClock {
        fn new() -> Self {
            Self(Instant::now())
        }
        fn now(&self) -> Instant {
            self.0
        }
        fn advance(&mut self, d: Duration) {
            self.0 += d;
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_from_half_a_second_to_four() {
        let got: Vec<u64> = (0..7).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(got, [500, 1000, 2000, 4000, 4000, 4000, 4000]);
        assert_eq!(backoff(u32::MAX), MAX_PROBE_INTERVAL);
    }

    #[test]
    fn unknown_and_up_are_usable_down_is_not() {
        let mut clock = FakeClock::new();
        let mut s = ReplicaState::default();
        assert_eq!(s.availability(), Availability::Unknown);
        assert!(s.usable());
        assert_eq!(s.start_probe(clock.now()), None, "nothing to probe");
        assert_eq!(s.succeeded(clock.now()), Change::None);
        assert_eq!(s.availability(), Availability::Up);
        assert_eq!(s.failed(clock.now(), "gone".into()), Change::WentDown);
        assert!(!s.usable());
        assert_eq!(s.error(), Some("gone"));
        clock.advance(MS);
        assert_eq!(s.failed(clock.now(), "gone".into()), Change::None);
        assert_eq!(
            s.failed(clock.now(), "PIN refused".into()),
            Change::ReasonChanged
        );
    }

    #[test]
    fn probes_back_off_and_escalate_to_reinitialisation() {
        let mut clock = FakeClock::new();
        let t0 = clock.now();
        let mut s = ReplicaState::default();
        s.failed(t0, "no private key".into());
        assert_eq!(s.next_probe(), Some(t0 + FIRST_PROBE));
        clock.advance(499 * MS);
        assert_eq!(s.start_probe(clock.now()), None, "not due yet");

        // Probe times relative to t0 while the replica stays down, and what each probe does.
        let mut schedule = Vec::new();
        for _ in 0..6 {
            let due = s.next_probe().unwrap();
            clock.advance(due - clock.now());
            let kind = s.start_probe(clock.now()).expect("due");
            assert_eq!(s.start_probe(clock.now()), None, "one probe at a time");
            schedule.push(((clock.now() - t0).as_millis() as u64, kind));
            assert_eq!(
                s.probe_failed(clock.now(), "no private key".into(), None),
                Change::None,
                "a failed probe with the same reason is not news"
            );
        }
        use ProbeKind::*;
        assert_eq!(
            schedule,
            [
                (500, Reopen),
                (1500, Reopen),
                (3500, Reinitialize),
                (7500, Reinitialize),
                (11500, Reinitialize),
                (15500, Reinitialize),
            ]
        );
        assert_eq!(s.failed_probes(), 6);

        // A request failing meanwhile does not reset the schedule.
        let due = s.next_probe();
        s.failed(clock.now(), "no private key".into());
        assert_eq!(s.next_probe(), due);

        // Back: logged once with how long it was down.
        let due = s.next_probe().unwrap();
        clock.advance(due - clock.now());
        assert!(s.start_probe(clock.now()).is_some());
        assert_eq!(
            s.probe_succeeded(clock.now()),
            Change::CameBack {
                down_for: Duration::from_millis(19_500),
                failed_probes: 6
            }
        );
        assert!(s.usable());
        assert_eq!(s.error(), None);
        assert_eq!(s.next_probe(), None);
        assert_eq!(s.start_probe(clock.now()), None);
    }

    #[test]
    fn a_new_outage_starts_the_schedule_again() {
        let mut clock = FakeClock::new();
        let mut s = ReplicaState::default();
        s.failed(clock.now(), "a".into());
        for _ in 0..4 {
            clock.advance(Duration::from_secs(5));
            s.start_probe(clock.now()).unwrap();
            s.probe_failed(clock.now(), "a".into(), None);
        }
        s.succeeded(clock.now());
        clock.advance(Duration::from_secs(60));
        assert_eq!(s.failed(clock.now(), "b".into()), Change::WentDown);
        assert_eq!(s.failed_probes(), 0);
        assert_eq!(s.next_probe(), Some(clock.now() + FIRST_PROBE));
        clock.advance(FIRST_PROBE);
        assert_eq!(s.start_probe(clock.now()), Some(ProbeKind::Reopen));
    }

    #[test]
    fn notes_and_early_probes() {
        let mut clock = FakeClock::new();
        let mut s = ReplicaState::default();
        s.failed(clock.now(), "gone".into());
        clock.advance(FIRST_PROBE);
        s.start_probe(clock.now()).unwrap();
        let note = Some("module not re-initialised".to_string());
        assert_eq!(
            s.probe_failed(clock.now(), "gone".into(), note.clone()),
            Change::ReasonChanged
        );
        assert_eq!(s.note(), note.as_deref());
        // A sibling came back: probe now rather than in a second.
        assert!(s.next_probe().unwrap() > clock.now());
        s.probe_soon(clock.now());
        assert_eq!(s.start_probe(clock.now()), Some(ProbeKind::Reopen));
        // probe_soon on a usable replica does nothing.
        let mut up = ReplicaState::default();
        up.probe_soon(clock.now());
        assert_eq!(up.next_probe(), None);
    }
}
