//! Who is acting, for the audit records written deep inside the service.
//!
//! The API authenticates a request, then runs the service call on a blocking thread inside
//! [`with_actor`]; the commit that records the change reads [`current_actor`] there. Anything
//! not run under an actor (start-up, the demo CA, tests) is the `system`.

use std::cell::RefCell;

/// An authenticated identity and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `bearer:admin`, `apikey:<id>`, `mtls:<subject>`, …; `anonymous` when unauthenticated.
    pub id: String,
    /// certctl's `ActorType`: `User`, `System` or `Agent`.
    pub actor_type: &'static str,
    /// Client address, empty for the system.
    pub source: String,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            actor_type: "System",
            source: String::new(),
        }
    }
}

thread_local! {
    static ACTOR: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

/// Runs `f` with `actor` as the current actor of this thread.
pub fn with_actor<T>(actor: Actor, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Actor>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ACTOR.with(|a| *a.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(ACTOR.with(|a| a.borrow_mut().replace(actor)));
    f()
}

/// The actor [`with_actor`] set on this thread, or the system.
pub fn current_actor() -> Actor {
    ACTOR
        .with(|a| a.borrow().clone())
        .unwrap_or_else(Actor::system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_and_restored() {
        assert_eq!(current_actor(), Actor::system());
        let alice = Actor {
            id: "bearer:admin".into(),
            actor_type: "User",
            source: "127.0.0.1:1".into(),
        };
        let seen = with_actor(alice.clone(), || {
            let inner = with_actor(Actor::system(), current_actor);
            (current_actor(), inner)
        });
        assert_eq!(seen, (alice, Actor::system()));
        assert_eq!(current_actor(), Actor::system());
    }
}
