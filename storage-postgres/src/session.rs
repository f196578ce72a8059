//! A consistent read view: one pooled connection in a `REPEATABLE READ, READ ONLY`
//! transaction, owned by a task on the store's runtime and driven from the caller's thread
//! one request at a time. Scans read it in pages of [`PAGE`] rows, so the caller's visitor
//! runs on its own thread between pages (and may use the store meanwhile).

use std::sync::mpsc::{sync_channel, SyncSender};

use deadpool_postgres::Pool;
use sigil_storage::{ReadView, Result, StoreError};
use tokio::sync::mpsc;
use tokio_postgres::IsolationLevel;

use crate::bridge::{self, Bridge};
use crate::sql::{self, Rows};
use crate::{error, Cfs};

const PAGE: i64 = 256;

type Reply<T> = SyncSender<Result<T>>;

enum Cmd {
    Get(String, Vec<u8>, Reply<Option<Vec<u8>>>),
    Last(String, Reply<Option<(Vec<u8>, Vec<u8>)>>),
    Page(String, Vec<u8>, Option<Vec<u8>>, Reply<Rows>),
}

/// Ends (the transaction rolled back, the connection back in the pool) when dropped.
pub(crate) struct Session {
    cmds: mpsc::UnboundedSender<Cmd>,
    cfs: Cfs,
}

impl Session {
    pub(crate) fn begin(bridge: &Bridge, pool: &Pool, cfs: Cfs) -> Result<Self> {
        let (cmds, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let (ready, is_ready) = sync_channel::<Result<()>>(1);
        let pool = pool.clone();
        bridge.handle().spawn(async move {
            let mut client = match bridge::client(&pool).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            let tx = match client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
            {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = ready.send(Err(error::pg(e)));
                    return;
                }
            };
            // A repeatable-read transaction takes its snapshot at its first statement, not at
            // BEGIN: take it now, so that writes committed after `begin` returns are not seen.
            if let Err(e) = tx.batch_execute("SELECT 1").await {
                let _ = ready.send(Err(error::pg(e)));
                return;
            }
            if ready.send(Ok(())).is_err() {
                return;
            }
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Cmd::Get(cf, key, reply) => {
                        let _ = reply.send(sql::get(&tx, &cf, &key).await);
                    }
                    Cmd::Last(cf, reply) => {
                        let _ = reply.send(sql::last(&tx, &cf).await);
                    }
                    Cmd::Page(cf, from, to, reply) => {
                        let _ = reply.send(sql::page(&tx, &cf, &from, to.as_deref(), PAGE).await);
                    }
                }
            }
            // Read-only: nothing to keep. (Dropping it would roll back too, less politely.)
            let _ = tx.rollback().await;
        });
        is_ready.recv().map_err(|_| ended())??;
        Ok(Self { cmds, cfs })
    }

    fn ask<T>(&self, cmd: impl FnOnce(Reply<T>) -> Cmd) -> Result<T> {
        let (reply, answer) = sync_channel(1);
        self.cmds.send(cmd(reply)).map_err(|_| ended())?;
        answer.recv().map_err(|_| ended())?
    }
}

fn ended() -> StoreError {
    StoreError::Io("PostgreSQL read transaction ended unexpectedly".into())
}

impl ReadView for Session {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.cfs.check(cf)?;
        self.ask(|r| Cmd::Get(cf.to_string(), key.to_vec(), r))
    }

    fn scan(
        &self,
        cf: &str,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.cfs.check(cf)?;
        let mut from = from.to_vec();
        loop {
            let rows =
                self.ask(|r| Cmd::Page(cf.to_string(), from.clone(), to.map(<[u8]>::to_vec), r))?;
            let full = rows.len() as i64 == PAGE;
            let Some(last_key) = rows.last().map(|(k, _)| k.clone()) else {
                return Ok(());
            };
            for (k, v) in &rows {
                if !visit(k, v) {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
            // The smallest key after the last one seen.
            from = last_key;
            from.push(0);
        }
    }

    fn last(&self, cf: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.cfs.check(cf)?;
        self.ask(|r| Cmd::Last(cf.to_string(), r))
    }
}
