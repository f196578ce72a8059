//! Group commit: concurrent callers' commits written together, so that one synced write (one
//! fsync) makes several of them durable.
//!
//! Leader and followers, as RocksDB's and LevelDB's write queues: a caller that finds no write
//! in progress leads — it takes every queued item (its own first), writes them and hands each
//! caller its result; callers arriving meanwhile queue and sleep. When the leader is done, the
//! oldest queued caller, if any, leads the next group. Every caller still returns only once
//! its own item is written; what a group writes is in arrival order.
//!
//! (The store could group concurrent synced writes on its own, but the replication log's
//! sequence numbers and the audit chain are assigned in commit order under one lock, and
//! each commit must be durable before a later one is visible: the group has to be formed
//! above the store, where the numbers are assigned.)

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The most items one group takes (a bound on one write's size and on the wait of its first
/// caller).
const MAX_GROUP: usize = 256;

enum Slot<R> {
    Queued,
    /// This caller leads the next group.
    Lead,
    Done(R),
}

struct Waiter<R> {
    slot: Mutex<Slot<R>>,
    ready: Condvar,
}

impl<R> Waiter<R> {
    fn set(&self, s: Slot<R>) {
        *lock(&self.slot) = s;
        self.ready.notify_one();
    }
}

struct Queue<T, R> {
    items: VecDeque<(T, Arc<Waiter<R>>)>,
    /// A leader is writing a group.
    leading: bool,
}

/// A queue of items to be written in groups (see the module documentation).
pub(super) struct Group<T, R> {
    queue: Mutex<Queue<T, R>>,
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T, R> Group<T, R> {
    pub(super) fn new() -> Self {
        Self {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                leading: false,
            }),
        }
    }

    /// Has `item` written, by this caller or by a concurrent one, and returns its result.
    /// `write` gets a group's items in arrival order and returns one result per item, in the
    /// same order; if it panics, every item of its group gets `on_panic()` (and the panic
    /// goes on in the caller that led).
    pub(super) fn run(
        &self,
        item: T,
        write: impl Fn(Vec<T>) -> Vec<R>,
        on_panic: impl Fn() -> R,
    ) -> R {
        let me = Arc::new(Waiter {
            slot: Mutex::new(Slot::Queued),
            ready: Condvar::new(),
        });
        {
            let mut q = lock(&self.queue);
            q.items.push_back((item, me.clone()));
            if q.leading {
                drop(q);
                let mut slot = lock(&me.slot);
                loop {
                    match std::mem::replace(&mut *slot, Slot::Queued) {
                        Slot::Done(r) => return r,
                        Slot::Lead => break,
                        Slot::Queued => {
                            slot = me.ready.wait(slot).unwrap_or_else(|e| e.into_inner())
                        }
                    }
                }
            } else {
                q.leading = true;
            }
        }
        self.lead(&me, write, on_panic)
    }

    /// Writes the queued items (the leader's own is the oldest) and passes the lead on.
    fn lead(
        &self,
        me: &Arc<Waiter<R>>,
        write: impl Fn(Vec<T>) -> Vec<R>,
        on_panic: impl Fn() -> R,
    ) -> R {
        let (items, waiters): (Vec<T>, Vec<Arc<Waiter<R>>>) = {
            let mut q = lock(&self.queue);
            let n = q.items.len().min(MAX_GROUP);
            q.items.drain(..n).unzip()
        };
        debug_assert!(
            Arc::ptr_eq(&waiters[0], me),
            "the leader's item is the oldest"
        );
        let n = waiters.len();
        let written = panic::catch_unwind(AssertUnwindSafe(|| write(items)));
        let (results, panicked) = match written {
            Ok(r) if r.len() == n => (r, None),
            Ok(_) => ((0..n).map(|_| on_panic()).collect(), None),
            Err(p) => ((0..n).map(|_| on_panic()).collect(), Some(p)),
        };
        // The leader's own result is the first; the others wake with theirs.
        let mut results = results.into_iter();
        let mine = results.next().expect("the leader's item is in its group");
        for (w, r) in waiters[1..].iter().zip(results) {
            w.set(Slot::Done(r));
        }
        {
            let mut q = lock(&self.queue);
            match q.items.front() {
                Some((_, next)) => next.set(Slot::Lead),
                None => q.leading = false,
            }
        }
        if let Some(p) = panicked {
            panic::resume_unwind(p);
        }
        mine
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn alone_a_caller_writes_its_own_item() {
        let g: Group<u32, u32> = Group::new();
        assert_eq!(g.run(7, |v| v.iter().map(|x| x * 2).collect(), || 0), 14);
        assert_eq!(g.run(8, |v| v.iter().map(|x| x * 2).collect(), || 0), 16);
    }

    #[test]
    fn concurrent_callers_share_writes_and_each_gets_its_result() {
        let g: Arc<Group<u32, (u32, usize)>> = Arc::new(Group::new());
        let writes = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..16u32)
            .map(|i| {
                let (g, writes, order) = (g.clone(), writes.clone(), order.clone());
                std::thread::spawn(move || {
                    g.run(
                        i,
                        |items| {
                            let n = writes.fetch_add(1, Ordering::SeqCst);
                            order.lock().unwrap().extend(items.iter().copied());
                            // A slow write: callers arriving meanwhile queue up.
                            std::thread::sleep(Duration::from_millis(20));
                            items.into_iter().map(|x| (x, n)).collect()
                        },
                        || (u32::MAX, 0),
                    )
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (i, (x, _)) in results.iter().enumerate() {
            assert_eq!(*x, i as u32, "each caller gets its own item's result");
        }
        let writes = writes.load(Ordering::SeqCst);
        assert!(writes < 16, "some writes were shared ({writes} writes)");
        let mut seen = order.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..16).collect::<Vec<_>>(), "every item written once");
    }

    #[test]
    fn a_panicking_write_fails_its_group_and_the_queue_goes_on() {
        let g: Arc<Group<u32, Result<u32, &'static str>>> = Arc::new(Group::new());
        let started = Arc::new(std::sync::Barrier::new(2));
        let leader = {
            let (g, started) = (g.clone(), started.clone());
            std::thread::spawn(move || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    g.run(
                        1,
                        |_| {
                            started.wait();
                            std::thread::sleep(Duration::from_millis(50));
                            panic!("write failed")
                        },
                        || Err("panicked"),
                    )
                }))
            })
        };
        started.wait();
        // Queued behind the panicking group: leads the next one.
        let follower = g.run(2, |v| v.into_iter().map(Ok).collect(), || Err("panicked"));
        assert_eq!(follower, Ok(2));
        assert!(
            leader.join().unwrap().is_err(),
            "the leader's panic goes on"
        );
        assert_eq!(
            g.run(3, |v| v.into_iter().map(Ok).collect(), || Err("x")),
            Ok(3)
        );
    }
}
