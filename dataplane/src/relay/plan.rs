//! What a relay answers a downstream asking for the records after `after` (sans I/O): the
//! control plane's rules (docs/replication.md "Endpoint", "Frames") over the relay's retained
//! log, plus two refusals a relay needs because it is itself a subscriber.

/// The relay's position when a downstream connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The relay's applied sequence: the `head` of its Hello.
    pub head: u64,
    /// Oldest sequence in its retained log (`head + 1` when empty).
    pub oldest_retained: u64,
    /// Whether its replica holds a complete state (`ReplicationStatus::synced`).
    pub synced: bool,
    /// Its own upstream's head while its stream is established; `None` while disconnected
    /// (or without an upstream).
    pub upstream_head: Option<u64>,
}

/// How a stream opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `Hello { snapshot: false }`, then the records after `after`.
    Records,
    /// `Hello { snapshot: true }`, a snapshot, then the records after it.
    Snapshot,
    /// 503: the downstream tries its next upstream (its own failover) and keeps its state.
    Unavailable(&'static str),
}

/// The decision for a downstream at `after`.
///
/// * An unsynced relay (an empty replica, or its first snapshot still arriving) serves
///   nothing: its empty state would look complete to a downstream.
/// * `after` ahead of the relay: a snapshot, as on the control plane, only when the relay is
///   caught up with an established upstream — then the upstream itself went back (restored
///   from a backup). Otherwise the relay is merely behind (the downstream came from another
///   upstream), and a snapshot would move the downstream back in time.
/// * `after + 1 < oldest_retained`: a snapshot (the retained log no longer holds what the
///   downstream misses).
/// * Otherwise the records after `after`.
pub fn open(after: u64, at: Position) -> Opening {
    if !at.synced {
        return Opening::Unavailable("the relay's replica is not synced yet");
    }
    if after > at.head {
        return if at.upstream_head == Some(at.head) {
            Opening::Snapshot
        } else {
            Opening::Unavailable("the relay is behind the subscriber")
        };
    }
    if after + 1 < at.oldest_retained {
        Opening::Snapshot
    } else {
        Opening::Records
    }
}

/// Whether records read after `pos` continue the stream: the first is `pos + 1` and each
/// next one follows. Otherwise the downstream fell behind the retained log (it was trimmed)
/// and is disconnected; it comes back with a snapshot.
pub fn continues(pos: u64, seqs: impl IntoIterator<Item = u64>) -> bool {
    (pos + 1..).zip(seqs).all(|(expected, seq)| seq == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(head: u64, oldest_retained: u64) -> Position {
        Position {
            head,
            oldest_retained,
            synced: true,
            upstream_head: Some(head),
        }
    }

    #[test]
    fn resumes_inside_the_retained_log() {
        assert_eq!(open(10, at(20, 5)), Opening::Records);
        assert_eq!(open(4, at(20, 5)), Opening::Records);
        assert_eq!(open(20, at(20, 5)), Opening::Records);
        // Empty log after a snapshot at 20: a downstream at 20 waits for 21.
        assert_eq!(open(20, at(20, 21)), Opening::Records);
    }

    #[test]
    fn snapshot_when_older_than_the_log() {
        assert_eq!(open(3, at(20, 5)), Opening::Snapshot);
        assert_eq!(open(0, at(20, 21)), Opening::Snapshot);
        assert_eq!(open(0, at(20, 1)), Opening::Records);
    }

    #[test]
    fn ahead_of_a_caught_up_relay_is_a_snapshot() {
        assert_eq!(open(25, at(20, 5)), Opening::Snapshot);
    }

    #[test]
    fn ahead_of_a_lagging_or_disconnected_relay_is_refused() {
        let lagging = Position {
            upstream_head: Some(30),
            ..at(20, 5)
        };
        assert!(matches!(open(25, lagging), Opening::Unavailable(_)));
        let away = Position {
            upstream_head: None,
            ..at(20, 5)
        };
        assert!(matches!(open(25, away), Opening::Unavailable(_)));
        // Behind its upstream but not behind the downstream: served.
        assert_eq!(open(15, lagging), Opening::Records);
    }

    #[test]
    fn an_unsynced_relay_serves_nothing() {
        let empty = Position {
            synced: false,
            ..at(0, 1)
        };
        assert!(matches!(open(0, empty), Opening::Unavailable(_)));
    }

    #[test]
    fn continuity() {
        assert!(continues(4, [5, 6, 7]));
        assert!(continues(4, []));
        assert!(!continues(4, [6, 7]));
        assert!(!continues(4, [5, 7]));
    }
}
