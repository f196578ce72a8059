//! End-to-end helpers for the data plane: [`DataPlane`] runs a real `sigil-dp` replicating from
//! a [`crate::ControlPlane`]; [`TcpProxy`] gives a control plane a stable address across
//! restarts; raw-socket HTTP ([`request`], [`read_response`]) and `openssl` helpers.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::pki::{combined, run, run_unchecked, unique_path};
pub use crate::proxy::TcpProxy;
use crate::{bin_path, free_port, tail, write_file, CertFiles, ControlPlane, REPLICATION_TOKEN};

/// A running `sigil-dp` on its own temporary data directory, killed on drop.
pub struct DataPlane {
    dir: tempfile::TempDir,
    cp_url: String,
    config: Option<PathBuf>,
    /// Further `sigil-dp` arguments ([`DataPlane::start_with_args`]).
    extra_args: Vec<String>,
    /// Further environment variables ([`DataPlane::start_with_env`]).
    extra_env: Vec<(String, String)>,
    port: u16,
    metrics_port: u16,
    child: Option<Child>,
    starts: u32,
    logs_shown: bool,
}

impl DataPlane {
    /// Starts a data plane replicating from `cp_url` and waits until it is ready.
    pub fn start(cp_url: &str) -> Self {
        Self::start_with_config(cp_url, None)
    }

    /// Like [`DataPlane::start`] with `--config FILE`, FILE holding `toml`.
    pub fn start_with_config(cp_url: &str, toml: Option<&str>) -> Self {
        Self::start_with_args(cp_url, toml, &[])
    }

    /// Like [`DataPlane::start_with_config`] with `args` appended to the command line (e.g.
    /// `--control-plane-ca FILE` for an https:// control plane).
    pub fn start_with_args(cp_url: &str, toml: Option<&str>, args: &[&str]) -> Self {
        Self::start_with_env(cp_url, toml, args, &[])
    }

    /// Like [`DataPlane::start_with_args`] with `env` added to the process's environment
    /// (e.g. `SOFTHSM2_CONF` and a PIN variable; `RUST_LOG` overrides the default `info`).
    pub fn start_with_env(
        cp_url: &str,
        toml: Option<&str>,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sigil-dp-e2e-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("work")).expect("mkdir work");
        let config = toml.map(|t| {
            let p = dir.path().join("sigil-dp.toml");
            write_file(&p, t);
            p
        });
        let mut dp = DataPlane {
            dir,
            cp_url: cp_url.to_owned(),
            config,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            port: 0,
            metrics_port: 0,
            child: None,
            starts: 0,
            logs_shown: false,
        };
        dp.spawn_and_wait();
        dp
    }

    fn log_file(&self, which: &str) -> File {
        let path = self.dir.path().join(which);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open log file")
    }

    /// Spawns the process (same ports as before when it ran already) and waits for readiness;
    /// picks new ports after a bind race.
    /// Starts the process without waiting for it to be ready (a data plane whose first
    /// snapshot is still arriving is not); [`DataPlane::wait_ready`] waits.
    pub fn start_unready(cp_url: &str) -> Self {
        Self::unready_on(cp_url, free_port())
    }

    fn unready_on(cp_url: &str, metrics_port: u16) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sigil-dp-e2e-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("work")).expect("mkdir work");
        let mut dp = DataPlane {
            dir,
            cp_url: cp_url.to_owned(),
            config: None,
            extra_args: Vec::new(),
            extra_env: Vec::new(),
            port: free_port(),
            metrics_port,
            child: None,
            starts: 0,
            logs_shown: false,
        };
        dp.spawn_child();
        dp
    }

    /// Starts the process with its ops listener (`/metrics`) on `metrics_port` (known to a
    /// control plane's configuration beforehand) and waits until it is ready.
    pub fn start_with_metrics_port(cp_url: &str, metrics_port: u16) -> Self {
        let mut dp = Self::unready_on(cp_url, metrics_port);
        dp.wait_ready(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("data plane not ready: {e}"));
        dp
    }

    /// The replica's state digest (`/replication/digest` on the ops listener).
    pub fn digest(&self) -> Value {
        let r = request(self.metrics_port, &get_request("/replication/digest", ""))
            .unwrap_or_else(|e| panic!("/replication/digest: {e}"));
        assert_eq!(r.status, 200, "/replication/digest: {}", r.text());
        serde_json::from_slice(&r.body).expect("digest JSON")
    }

    fn spawn_and_wait(&mut self) {
        let mut last_err = String::new();
        for attempt in 0..3 {
            if self.port == 0 || attempt > 0 {
                (self.port, self.metrics_port) = (free_port(), free_port());
            }
            self.spawn_child();
            match self.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return,
                Err(e) => {
                    self.kill9();
                    last_err = e;
                    let logs = self.logs();
                    if !(logs.contains("in use") || logs.contains("AddrInUse")) {
                        break;
                    }
                }
            }
        }
        self.logs_shown = true;
        panic!("sigil-dp did not become ready: {last_err}\n{}", self.logs());
    }

    fn spawn_child(&mut self) {
        {
            self.starts += 1;
            for f in ["stdout.log", "stderr.log"] {
                let (n, p, m) = (self.starts, self.port, self.metrics_port);
                writeln!(self.log_file(f), "===== start #{n} on ports {p}/{m} =====").unwrap();
            }
            let child = Command::new(bin_path("sigil-dp"))
                .arg("--data-dir")
                .arg(self.data_dir())
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .args(["--control-plane", &self.cp_url, "--threads", "2"])
                .args(["--driver", "epoll", "--no-pin", "--metrics-listen"])
                .arg(format!("127.0.0.1:{}", self.metrics_port))
                .args(self.config.iter().flat_map(|c| [Path::new("--config"), c]))
                .args(&self.extra_args)
                .env("SIGIL_REPLICATION_TOKEN", REPLICATION_TOKEN)
                .env("RUST_LOG", "info")
                // Colour is off because stderr is a file, not because of NO_COLOR
                // (tests/tests/observability.rs checks that).
                .env_remove("NO_COLOR")
                .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(self.log_file("stdout.log"))
                .stderr(self.log_file("stderr.log"))
                .spawn()
                .expect("spawn sigil-dp");
            self.child = Some(child);
        }
    }

    /// Polls `/health/ready` until 200.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        while start.elapsed() < timeout {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                return Err(format!("sigil-dp exited early with {status}"));
            }
            match request(self.metrics_port, &get_request("/health/ready", "")) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => last = format!("/health/ready answered {}: {}", r.status, r.text()),
                Err(e) => last = format!("/health/ready: {e}"),
            }
            sleep(Duration::from_millis(100));
        }
        Err(format!("timed out after {timeout:?}; last: {last}"))
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        crate::process::kill9(self.child.take());
    }

    /// Stops the process if it runs (SIGTERM, SIGKILL after 10 s) and starts it again on the
    /// same data directory and, unless taken meanwhile, the same ports.
    pub fn restart(&mut self) {
        crate::process::terminate(self.child.take());
        self.spawn_and_wait();
    }

    /// Panics (with the logs) unless the process is still running.
    pub fn assert_alive(&mut self) {
        let child = self.child.as_mut().expect("sigil-dp was not started");
        if let Some(status) = child.try_wait().expect("try_wait") {
            self.logs_shown = true;
            panic!("sigil-dp exited with {status}\n{}", self.logs());
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Scratch directory for test files.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Everything the process wrote to stderr (the tracing log), all starts.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default();
        format!(
            "--- sigil-dp stdout ({}) ---\n{}\n--- sigil-dp stderr ---\n{}",
            self.dir.path().display(),
            tail(&out, 50),
            tail(&self.stderr_log(), 200)
        )
    }

    /// A request on the public port; panics (with logs) if no response arrives.
    pub fn send(&self, raw: &[u8]) -> HttpResponse {
        request(self.port, raw)
            .unwrap_or_else(|e| panic!("request to sigil-dp: {e}\n{}", self.logs()))
    }

    /// `GET path` (Connection: close) on the public port.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.send(&get_request(path, ""))
    }

    /// `POST path` with an OCSP request body: `(status, headers, body)` in an [`HttpResponse`].
    pub fn post_ocsp(&self, path: &str, der: &[u8]) -> HttpResponse {
        self.send(&post_request(path, der))
    }

    /// `GET /health/ready`: status and JSON.
    pub fn ready(&self) -> (u16, Value) {
        let r = request(self.metrics_port, &get_request("/health/ready", ""))
            .unwrap_or_else(|e| panic!("/health/ready: {e}\n{}", self.logs()));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        let r = request(self.metrics_port, &get_request("/metrics", ""))
            .unwrap_or_else(|e| panic!("/metrics: {e}\n{}", self.logs()));
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    /// The value of the sample named exactly `name` (labels included, e.g.
    /// `sigil_dp_requests_total{route="crl",status="200"}`), or `None`.
    pub fn metric_opt(&self, name: &str) -> Option<f64> {
        metric_in(&self.metrics(), name)
    }

    /// Like [`DataPlane::metric_opt`], panicking if absent.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.metrics();
        metric_in(&text, name).unwrap_or_else(|| panic!("metric {name} not in /metrics:\n{text}"))
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() && !self.logs_shown {
            eprintln!("{}", self.logs());
        }
        if std::env::var_os("SIGIL_KEEP_TMP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("keeping {}", dir.keep().display());
        }
    }
}

/// The value of sample `name` in Prometheus text.
pub fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The control plane's replication head (`GET /health` → `replication.head`).
pub fn cp_head(cp: &ControlPlane) -> u64 {
    let r = cp.request("GET", "/health", None, None, None);
    r.json()["replication"]["head"]
        .as_u64()
        .unwrap_or_else(|| panic!("/health: {}", r.text()))
}

/// A response read off a raw socket.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Status line and header lines, as received.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let h = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        h.map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path HTTP/1.1` with `Connection: close`; `extra` holds further header lines (CRLF-ended).
pub fn get_request(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n").into()
}

/// `POST path HTTP/1.1` with an `application/ocsp-request` body and `Connection: close`.
pub fn post_request(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A loopback connection with 10 s read/write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Connects, writes `raw`, reads one response.
pub fn request(port: u16, raw: &[u8]) -> Result<HttpResponse, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).map_err(|e| format!("write: {e}"))?;
    read_response(&mut s, &mut Vec::new())
}

/// Reads one response (framed by Content-Length; none for 1xx/204/304) from `s`; `buf` holds
/// bytes already read past the previous response and keeps those past this one.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<HttpResponse, String> {
    let mut chunk = [0u8; 16384];
    let mut fill = |s: &mut TcpStream, buf: &mut Vec<u8>| match s.read(&mut chunk) {
        Ok(0) => Err(format!(
            "connection closed; got {:?}",
            String::from_utf8_lossy(buf)
        )),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(format!("read: {e}; got {:?}", String::from_utf8_lossy(buf))),
    };
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        fill(s, buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    let status: u16 = status.ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let cl = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    let len = match cl.map(|(_, v)| v.parse::<usize>()) {
        _ if status < 200 || status == 204 || status == 304 => 0,
        Some(Ok(n)) => n,
        _ => return Err(format!("no usable Content-Length in {head:?}")),
    };
    buf.drain(..end + 4);
    while buf.len() < len {
        fill(s, buf)?;
    }
    let body = buf.drain(..len).collect();
    Ok(HttpResponse {
        status,
        head,
        headers,
        body,
    })
}

/// Polls `f` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        sleep(Duration::from_millis(20));
    }
}

/// `openssl ocsp -issuer -cert -reqout` (SHA-1 CertID): the DER request, with or without nonce.
pub fn ocsp_request(dir: &Path, files: &CertFiles, nonce: bool) -> Vec<u8> {
    let out = unique_path(dir, "req", "der");
    let mut args = vec!["ocsp", "-issuer", files.issuing.to_str().unwrap()];
    args.extend([
        "-cert",
        files.leaf.to_str().unwrap(),
        "-reqout",
        out.to_str().unwrap(),
    ]);
    if !nonce {
        args.push("-no_nonce");
    }
    run("openssl", &args);
    std::fs::read(&out).expect("read OCSP request")
}

/// `openssl ocsp -url URL -issuer -cert -CAfile`: stdout+stderr.
pub fn openssl_ocsp_url(url: &str, files: &CertFiles) -> String {
    let mut args = vec!["ocsp", "-url", url, "-timeout", "5"];
    args.extend(["-issuer", files.issuing.to_str().unwrap(), "-cert"]);
    args.extend([
        files.leaf.to_str().unwrap(),
        "-CAfile",
        files.bundle.to_str().unwrap(),
    ]);
    combined(&run_unchecked("openssl", &args))
}
