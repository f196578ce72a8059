//! [`TcpProxy`]: a fixed loopback port in front of a control plane that restarts on new ports.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;

/// A loopback TCP forwarder: a fixed port forwarding to a changeable target port, so the data
/// plane keeps one control-plane URL while the control plane restarts on a new port. A new
/// connection while the target is down is closed at once.
pub struct TcpProxy {
    port: u16,
    target: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

impl TcpProxy {
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (target.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = conn else { continue };
                let to = t.load(Ordering::SeqCst);
                std::thread::spawn(move || forward(down, to));
            }
        });
        TcpProxy { port, target, stop }
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

fn forward(down: TcpStream, to: u16) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
        return;
    };
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        let mut buf = [0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    let (d2, u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
    std::thread::spawn(move || pipe(d2, u2));
    pipe(up, down);
}
