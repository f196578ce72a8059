//! Stopping the processes under test.

use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// SIGKILL (no graceful shutdown) and reap.
pub fn kill9(child: Option<Child>) {
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within 10 s; reaps it.
pub fn terminate(child: Option<Child>) {
    let Some(mut c) = child else { return };
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let start = Instant::now();
    while matches!(c.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(50));
    }
    kill9(Some(c));
}
