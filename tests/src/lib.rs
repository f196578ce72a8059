//! Helpers for end-to-end tests: run a real `sigil-cp` process on a private data directory and
//! talk to it over HTTP, with real `openssl` as the client-side judge.
//!
//! - [`ControlPlane`]: `sigil-cp init` + `sigil-cp serve` on a free loopback port, killed on drop
//!   (`init` creates the key-encryption key file beside the data directory, [`ControlPlane::kek_file`]).
//! - [`pki`]: CSRs, PEM/DER and `openssl` invocations.
//! - [`stream`]: a blocking subscriber of the replication stream.
//! - [`rawhttp`]: raw-socket HTTP for oversized bodies.
//! - [`load`]: the `sigil-load` harness binary and TLS files for it.
//!
//! The binaries must be built first (`cargo build --workspace --bins`); [`bin_path`] finds them
//! next to the test executable, or in `SIGIL_BIN_DIR`. Set `SIGIL_KEEP_TMP=1` to keep the
//! temporary directories (data dir, logs, PEM files) of every test for inspection.

pub mod acme;
pub mod api;
pub mod chaos;
pub mod converge;
pub mod cp_http;
pub mod deploy_kit;
pub mod dp;
pub mod est;
pub mod hsm;
pub mod kes;
pub mod load;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod rawhttp;
pub mod scep;
pub mod sshd;
pub mod storage;
pub mod stream;
pub mod tls;
pub mod tools;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use api::{assert_api_error, id_of, CertFiles, Issued, ISSUE_PATH};
pub use cp_http::RawResponse;
pub use pki::{gen_csr, run, run_unchecked, write_file};

/// Bearer token of the admin API, given to every control plane the tests start.
pub const ADMIN_TOKEN: &str = "admin-secret-for-tests";
/// Bearer token of the replication stream.
pub const REPLICATION_TOKEN: &str = "repl-secret-for-tests";

/// Path of a binary of this workspace (`sigil-cp`, ...).
///
/// `current_exe()` is `<target>/debug/deps/<test>-<hash>`, so the binaries live two levels up;
/// `SIGIL_BIN_DIR` overrides the directory.
pub fn bin_path(name: &str) -> PathBuf {
    let dir = match std::env::var_os("SIGIL_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("current_exe");
            exe.parent()
                .and_then(Path::parent)
                .expect("test executable is in <target>/<profile>/deps")
                .to_path_buf()
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        panic!(
            "binary {name} not found at {}: run `cargo build --workspace --bins` first \
             (with the same CARGO_TARGET_DIR), or point SIGIL_BIN_DIR at the directory holding it",
            path.display()
        );
    }
    path
}

/// A free loopback port (bound, read and released: a tiny race with other processes remains,
/// which [`ControlPlane`] absorbs by retrying).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A running `sigil-cp serve` on its own temporary data directory.
pub struct ControlPlane {
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    extra_args: Vec<String>,
    /// Environment given to `init` and `serve` besides the tokens.
    extra_env: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    client: reqwest::blocking::Client,
    starts: u32,
    /// Set once the logs were printed in a panic message (Drop then does not repeat them).
    logs_shown: bool,
    /// The admin listener's TLS files when it serves https ([`ControlPlane::start_tls`]).
    tls: Option<tls::TlsFiles>,
}

impl ControlPlane {
    /// `init` a fresh data directory and `serve` it.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Like [`ControlPlane::start`] with `--config FILE`, FILE (in the temp dir) holding `toml`.
    pub fn start_with_config(toml: &str) -> Self {
        let dir = new_tempdir();
        let path = dir.path().join("sigil-cp.toml");
        write_file(&path, toml);
        Self::launch(
            dir,
            vec!["--config".into(), path.to_str().expect("utf-8 path").into()],
        )
    }

    /// `init` a fresh data directory and `serve` it with `extra` appended to the serve command.
    pub fn start_with_args(extra: &[&str]) -> Self {
        Self::launch(new_tempdir(), extra.iter().map(|s| s.to_string()).collect())
    }

    /// `serve` with an optional config file (`toml`) and extra environment variables; with
    /// `init_demo` false the data directory starts empty (no demo CAs, no software keys) and
    /// the harness writes the key-encryption key file `init` would have created.
    pub fn start_with(toml: Option<&str>, env: &[(&str, &str)], init_demo: bool) -> Self {
        let dir = new_tempdir();
        let mut args = Vec::new();
        if let Some(toml) = toml {
            let path = dir.path().join("sigil-cp.toml");
            write_file(&path, toml);
            args = vec!["--config".into(), path.to_str().expect("utf-8 path").into()];
        }
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::launch_with(dir, args, env, init_demo)
    }

    fn launch(dir: tempfile::TempDir, extra_args: Vec<String>) -> Self {
        Self::launch_with(dir, extra_args, Vec::new(), true)
    }

    /// Like [`ControlPlane::start_with_config`], with the admin listener on https: `[admin.tls]`
    /// with `files`' server certificate and `files.client_ca` as the client CA (mTLS) is
    /// appended to `toml`. Talk to it with [`ControlPlane::curl`].
    pub fn start_tls(toml: &str, files: &tls::TlsFiles) -> Self {
        let dir = new_tempdir();
        let path = dir.path().join("sigil-cp.toml");
        let section = format!(
            "\n[admin.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
            files.cert, files.key, files.client_ca
        );
        write_file(&path, format!("{toml}{section}"));
        let args = vec!["--config".into(), path.to_str().expect("utf-8 path").into()];
        let data_dir = dir.path().join("data");
        let mut cp = Self::bare(dir, data_dir, args, Vec::new());
        cp.tls = Some(files.clone());
        cp.init();
        cp.spawn_and_wait();
        cp
    }

    /// `curl` against the admin listener (https with the server CA when TLS is on):
    /// `extra` are curl arguments (`-H`, `--cert`, `-X`, `--data`, ...).
    pub fn curl(&self, path: &str, extra: &[&str]) -> tls::Curl {
        let ca = self
            .tls
            .as_ref()
            .map_or_else(|| PathBuf::from("/dev/null"), |t| t.ca.clone());
        // For plain http curl ignores --cacert.
        tls::curl(&self.work_dir(), &ca, &self.url(path), extra)
    }

    fn launch_with(
        dir: tempfile::TempDir,
        extra_args: Vec<String>,
        extra_env: Vec<(String, String)>,
        init_demo: bool,
    ) -> Self {
        let data_dir = dir.path().join("data");
        let mut cp = Self::bare(dir, data_dir, extra_args, extra_env);
        if init_demo {
            cp.init();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let kek = cp.kek_file();
            write_file(&kek, format!("{}\n", kes::random_key_b64()));
            std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the KEK file");
        }
        cp.spawn_and_wait();
        cp
    }

    fn bare(
        dir: tempfile::TempDir,
        data_dir: PathBuf,
        mut extra_args: Vec<String>,
        mut extra_env: Vec<(String, String)>,
    ) -> Self {
        storage::prepare(dir.path(), &mut extra_args, &mut extra_env);
        std::fs::create_dir_all(dir.path().join("work")).expect("mkdir work");
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client");
        ControlPlane {
            dir,
            data_dir,
            extra_args,
            extra_env,
            port: 0,
            child: None,
            client,
            starts: 0,
            logs_shown: false,
            tls: None,
        }
    }

    /// The `--config FILE` arguments of this control plane, if any (`init` reads the same
    /// file as `serve`: the key-encryption key may be configured there).
    fn config_args(&self) -> Vec<String> {
        self.extra_args
            .windows(2)
            .find(|w| w[0] == "--config")
            .map(|w| w.to_vec())
            .unwrap_or_default()
    }

    /// The default key-encryption key file of the data directory (`data.kek` beside `data/`):
    /// `init` creates it when no KEK is configured.
    pub fn kek_file(&self) -> PathBuf {
        self.dir.path().join("data.kek")
    }

    fn init(&self) {
        let out = Command::new(bin_path("sigil-cp"))
            .args(self.config_args())
            .arg("init")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(Self::env())
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("spawn sigil-cp init");
        if !out.status.success() {
            panic!(
                "`sigil-cp init --data-dir {}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.data_dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn env() -> [(&'static str, &'static str); 3] {
        [
            ("SIGIL_ADMIN_TOKEN", ADMIN_TOKEN),
            ("SIGIL_REPLICATION_TOKEN", REPLICATION_TOKEN),
            ("RUST_LOG", "info"),
        ]
    }

    fn log_file(&self, which: &str) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(which))
            .expect("open log file")
    }

    /// Spawns `serve` on a fresh port and waits for `/health`; retries on a port race.
    /// Spawns `serve` on a fresh port without waiting for it.
    fn spawn_child(&mut self) {
        self.starts += 1;
        self.port = free_port();
        for f in ["stdout.log", "stderr.log"] {
            writeln!(
                self.log_file(f),
                "===== start #{} on port {} =====",
                self.starts,
                self.port
            )
            .unwrap();
        }
        let child = Command::new(bin_path("sigil-cp"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.extra_args)
            .envs(Self::env())
            // Colour is off because stderr is a file (tests/tests/observability.rs).
            .env_remove("NO_COLOR")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(self.log_file("stdout.log"))
            .stderr(self.log_file("stderr.log"))
            .spawn()
            .expect("spawn sigil-cp serve");
        self.child = Some(child);
    }

    fn spawn_and_wait(&mut self) {
        let mut last_err = String::new();
        for _attempt in 0..3 {
            self.spawn_child();
            match self.wait_healthy(Duration::from_secs(30)) {
                Ok(()) => return,
                Err(e) => {
                    self.kill9();
                    last_err = e;
                    let logs = self.logs();
                    let port_race = logs.contains("in use") || logs.contains("AddrInUse");
                    if !port_race {
                        break;
                    }
                }
            }
        }
        self.logs_shown = true;
        panic!(
            "sigil-cp serve did not become healthy: {last_err}\n{}",
            self.logs()
        );
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        while start.elapsed() < timeout {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("try_wait"))
            {
                return Err(format!("sigil-cp serve exited early with {status}"));
            }
            if self.tls.is_some() {
                let c = self.curl("/health", &["--max-time", "2"]);
                if c.status == "200" {
                    return Ok(());
                }
                last = format!("/health over https: {} {}", c.status, c.stderr.trim());
            } else {
                match self
                    .client
                    .get(self.url("/health"))
                    .timeout(Duration::from_secs(2))
                    .send()
                {
                    Ok(r) if r.status().as_u16() == 200 => return Ok(()),
                    Ok(r) => last = format!("/health answered {}", r.status()),
                    Err(e) => last = format!("/health: {e}"),
                }
            }
            sleep(Duration::from_millis(100));
        }
        Err(format!("timed out after {timeout:?}; last: {last}"))
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and reaps it.
    pub fn kill9(&mut self) {
        process::kill9(self.child.take());
    }

    /// Stops the process gracefully (SIGTERM, SIGKILL after 10 s) if it runs, then starts
    /// `serve` again on the same data directory (on a new port: use [`ControlPlane::url`]).
    pub fn restart(&mut self) {
        process::terminate(self.child.take());
        self.spawn_and_wait();
    }

    /// Stops the process gracefully (SIGTERM, SIGKILL after 10 s); [`ControlPlane::resume`]
    /// starts it again on the same data directory.
    pub fn stop(&mut self) {
        process::terminate(self.child.take());
    }

    /// Starts `serve` again after [`ControlPlane::stop`] (on a new port).
    pub fn resume(&mut self) {
        self.spawn_and_wait();
    }

    /// The temporary directory (holds `data/`, `work/`, `stdout.log`, `stderr.log`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A scratch directory for test files (CSRs, PEMs, responses).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when the admin listener serves TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// The process's stdout and stderr so far.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- sigil-cp stdout ({}) ---\n{}\n--- sigil-cp stderr ---\n{}",
            self.dir.path().display(),
            tail(&read("stdout.log"), 200),
            tail(&read("stderr.log"), 200)
        )
    }
}

impl Drop for ControlPlane {
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

/// A fresh temporary directory (`sigil-e2e-*`), removed when dropped.
pub fn new_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sigil-e2e-")
        .tempdir()
        .expect("tempdir")
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
