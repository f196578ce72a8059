//! [`TcpProxy`]: a fixed loopback port in front of a control plane that restarts on new ports.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

/// A loopback TCP forwarder: a fixed port forwarding to a changeable target port, so the data
/// plane keeps one control-plane URL while the control plane restarts on a new port. A new
/// connection while the target is down is closed at once. [`TcpProxy::set_rate`] throttles
/// what flows back from the target (a slow link: a snapshot that takes seconds).
pub struct TcpProxy {
    port: u16,
    target: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    rate: Arc<AtomicU64>,
}

impl TcpProxy {
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let stop = Arc::new(AtomicBool::new(false));
        let rate = Arc::new(AtomicU64::new(0));
        let (t, s, r) = (target.clone(), stop.clone(), rate.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = conn else { continue };
                let to = t.load(Ordering::SeqCst);
                let rate = r.clone();
                std::thread::spawn(move || forward(down, to, rate));
            }
        });
        TcpProxy {
            port,
            target,
            stop,
            rate,
        }
    }

    /// Bytes per second from the target to the client, on open connections too; 0: no limit.
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    pub fn set_target(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn forward(down: TcpStream, to: u16, rate: Arc<AtomicU64>) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
        return;
    };
    let pipe = |mut from: TcpStream, mut to: TcpStream, rate: Option<Arc<AtomicU64>>| {
        let mut buf = [0u8; 65536];
        loop {
            // Throttled: at most a tenth of a second's worth per read, then sleep it off.
            let limit = rate.as_ref().map_or(0, |r| r.load(Ordering::SeqCst));
            let want = if limit == 0 {
                buf.len()
            } else {
                (limit / 10).clamp(1, buf.len() as u64) as usize
            };
            let n = match from.read(&mut buf[..want]) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            if std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                break;
            }
            if let Some(us) = (n as u64 * 1_000_000).checked_div(limit) {
                std::thread::sleep(std::time::Duration::from_micros(us));
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    let (d2, u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
    std::thread::spawn(move || pipe(d2, u2, None));
    pipe(up, down, Some(rate));
}
