//! The store's own tokio runtime, on a thread of its own, and the blocking call into it.
//!
//! The runtime is dropped on its own thread when the store goes away: dropping a runtime
//! inside another runtime's async context would panic, and the control plane may drop its
//! store from one.

use std::future::Future;

use deadpool_postgres::{Object, Pool};
use sigil_storage::{Result, StoreError};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::error::{self, OpenError};

/// Worker threads of the store's runtime: the work is waiting on sockets.
const WORKERS: usize = 2;

pub(crate) struct Bridge {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl Bridge {
    pub(crate) fn start() -> std::result::Result<Self, OpenError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("sigil-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(WORKERS)
                    .thread_name("sigil-pg-io")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(OpenError::Runtime)?;
        let handle = handle_rx
            .recv()
            .map_err(|_| OpenError::Runtime(std::io::Error::other("runtime thread ended")))?
            .map_err(OpenError::Runtime)?;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `fut` on the store's runtime and waits for its output on this thread.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Io("PostgreSQL call ended without an answer".into()))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A pooled connection, or the reason there is none.
pub(crate) async fn client(pool: &Pool) -> Result<Object> {
    pool.get().await.map_err(error::pool)
}
