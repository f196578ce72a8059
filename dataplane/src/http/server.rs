//! The per-core accept loop.

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use super::{bump, serve_connection, Handler, HttpStats, Limits};

/// Pause after an accept error such as running out of file descriptors, so that the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accept loop for one core: spawns a task per connection (`monoio::spawn`). Beyond
/// `max_connections` connections open through this call, a new connection is accepted and
/// closed at once (counted in `connections_rejected`). Runs forever.
pub async fn serve<H: Handler + 'static>(
    listener: TcpListener,
    handler: Rc<H>,
    limits: Rc<Limits>,
    stats: Rc<HttpStats>,
    max_connections: usize,
) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if open.get() >= max_connections {
            bump(&stats.connections_rejected);
            drop(stream);
            continue;
        }
        bump(&stats.connections_accepted);
        let guard = OpenGuard::new(open.clone(), stats.clone());
        let (handler, limits, stats) = (handler.clone(), limits.clone(), stats.clone());
        monoio::spawn(async move {
            let _guard = guard;
            serve_connection(stream, &*handler, &limits, &stats).await;
        });
    }
}

/// Errors that concern one connection that died before it was accepted, not the listener.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

/// Counts a connection as open for as long as its task lives.
struct OpenGuard {
    open: Rc<Cell<usize>>,
    stats: Rc<HttpStats>,
}

impl OpenGuard {
    fn new(open: Rc<Cell<usize>>, stats: Rc<HttpStats>) -> Self {
        open.set(open.get() + 1);
        bump(&stats.connections_open);
        Self { open, stats }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
        let open = &self.stats.connections_open;
        open.set(open.get().saturating_sub(1));
    }
}
