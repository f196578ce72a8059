//! [`TcpProxy`]: a fixed loopback port in front of a control plane that restarts on new ports.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The open connections: both ends of each, by id, to sever them all at once.
type Open = Arc<Mutex<HashMap<u64, (TcpStream, TcpStream)>>>;

/// A loopback TCP forwarder: a fixed port forwarding to a changeable target port, so the data
/// plane keeps one control-plane URL while the control plane restarts on a new port. A new
/// connection while the target is down is closed at once. [`TcpProxy::set_rate`] throttles
/// what flows back from the target (a slow link: a snapshot that takes seconds).
/// [`TcpProxy::kill`] takes the proxy away as a dead node would be (its port refuses
/// connections, open ones are cut) and [`TcpProxy::revive`] brings it back on the same port.
pub struct TcpProxy {
    port: u16,
    target: Arc<AtomicU16>,
    rate: Arc<AtomicU64>,
    open: Open,
    /// The accepting thread and its stop flag, while the proxy is up.
    accepting: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl TcpProxy {
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let proxy = TcpProxy {
            port,
            target: Arc::new(AtomicU16::new(target)),
            rate: Arc::new(AtomicU64::new(0)),
            open: Arc::default(),
            accepting: Mutex::new(None),
        };
        proxy.accept_on(listener);
        proxy
    }

    fn accept_on(&self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s, r, open) = (
            self.target.clone(),
            stop.clone(),
            self.rate.clone(),
            self.open.clone(),
        );
        let handle = std::thread::spawn(move || {
            let mut next_id = 0u64;
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = conn else { continue };
                let to = t.load(Ordering::SeqCst);
                let (rate, open, stop) = (r.clone(), open.clone(), s.clone());
                next_id += 1;
                let id = next_id;
                std::thread::spawn(move || forward(down, to, rate, (id, open, stop)));
            }
        });
        *self.accepting.lock().unwrap() = Some((stop, handle));
    }

    /// Bytes per second from the target to the client, on open connections too; 0: no limit.
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    pub fn set_target(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes the listening port (connections to it are refused) and cuts every open
    /// connection, as if the node behind it died. Idempotent.
    pub fn kill(&self) {
        if let Some((stop, handle)) = self.accepting.lock().unwrap().take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            let _ = handle.join();
        }
        for (_, (down, up)) in self.open.lock().unwrap().drain() {
            let _ = down.shutdown(Shutdown::Both);
            let _ = up.shutdown(Shutdown::Both);
        }
    }

    /// Listens on the same port again after [`TcpProxy::kill`]; panics if it was taken
    /// meanwhile.
    pub fn revive(&self) {
        if self.accepting.lock().unwrap().is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("proxy port {} again: {e}", self.port));
        self.accept_on(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pipes `down` to a new connection to port `to` and back until either side closes, or the
/// proxy is killed (`stop`, then every connection in `open` is cut).
fn forward(
    down: TcpStream,
    to: u16,
    rate: Arc<AtomicU64>,
    (id, open, stop): (u64, Open, Arc<AtomicBool>),
) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
        return;
    };
    if let (Ok(d), Ok(u)) = (down.try_clone(), up.try_clone()) {
        open.lock().unwrap().insert(id, (d, u));
    }
    // Killed while connecting: `kill` may have cut the others before this one was listed.
    if stop.load(Ordering::SeqCst) {
        let _ = down.shutdown(Shutdown::Both);
        let _ = up.shutdown(Shutdown::Both);
    }
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
    let upward = std::thread::spawn(move || pipe(d2, u2, None));
    pipe(up, down, Some(rate));
    let _ = upward.join();
    open.lock().unwrap().remove(&id);
}
