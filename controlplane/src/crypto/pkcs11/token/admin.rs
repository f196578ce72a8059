//! Token operations besides signing: the mechanism list, and read-write sessions for key
//! generation and clean-up.

use cryptoki::mechanism::MechanismType;
use cryptoki::session::Session;

use super::{P11Error, Recovery, Token};

impl Token {
    /// The mechanisms the token supports.
    pub fn mechanisms(&self) -> Result<Vec<MechanismType>, P11Error> {
        let active = self.module.active()?;
        let slot = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.generation != active.generation() {
                st.reset(false);
                st.slot = None;
                st.generation = active.generation();
            }
            match st.slot {
                Some(s) => s,
                None => {
                    let (slot, pool) = self.find_slot(&active)?;
                    self.permits.set_capacity(pool);
                    st.slot = Some(slot);
                    slot
                }
            }
        };
        active
            .ctx()
            .get_mechanism_list(slot)
            .map_err(|e| P11Error::call(&self.label, "C_GetMechanismList", e))
    }

    /// Runs `op` with a fresh read-write session (key generation and clean-up), while a
    /// pooled session keeps the token logged in.
    pub fn with_rw_session<T>(
        &self,
        op: &dyn Fn(&Session) -> Result<T, P11Error>,
    ) -> Result<T, P11Error> {
        self.guarded(&|| self.attempt_rw(op))
    }

    fn attempt_rw<T>(
        &self,
        op: &dyn Fn(&Session) -> Result<T, P11Error>,
    ) -> (Result<T, P11Error>, u64) {
        let active = match self.module.active() {
            Ok(a) => a,
            Err(e) => return (Err(e), 0),
        };
        let generation = active.generation();
        // A pooled session (logged in) stays open while the read-write one is used.
        let (session, slot, epoch) = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match self.pooled(&active, &mut st) {
                Ok((s, slot)) => (s, slot, st.epoch),
                Err(e) => return (Err(e), generation),
            }
        };
        let result = active
            .ctx()
            .open_rw_session(slot)
            .map_err(|e| P11Error::call(&self.label, "C_OpenSession", e))
            .and_then(|rw| op(&rw));
        if result
            .as_ref()
            .err()
            .is_none_or(|e| e.recovery() == Recovery::None)
        {
            self.checkin(session, epoch, generation);
        }
        (result, generation)
    }
}
