//! Which store the harness's control planes use. By default RocksDB in their data directory;
//! with `SIGIL_TEST_POSTGRES_URL` set (a superuser URL of a running cluster: scripts/test.sh
//! starts one with scripts/postgres.sh and runs the end-to-end suite again against it) every
//! [`crate::ControlPlane`] gets a fresh PostgreSQL database and `[storage] backend =
//! "postgres"`, and keeps that database across its restarts.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the cluster the suite runs against.
pub const TEST_POSTGRES_URL: &str = "SIGIL_TEST_POSTGRES_URL";

/// The superuser URL of the cluster, when the suite runs on PostgreSQL.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(TEST_POSTGRES_URL)
        .ok()
        .filter(|u| !u.is_empty())
}

/// True when control planes store their state in PostgreSQL.
pub fn is_postgres() -> bool {
    postgres_admin_url().is_some()
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Creates a database and returns its URL (`admin`'s with the database name replaced).
pub fn create_database(admin: &str) -> String {
    let name = format!(
        "sigil_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .arg(admin)
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql (postgresql-client; scripts/setup-debian.sh installs it)");
    assert!(
        out.status.success(),
        "CREATE DATABASE {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("a URL ending in /<database>");
    format!("{base}/{name}")
}

/// On PostgreSQL: a fresh database for one control plane, `[storage]` appended to its
/// `--config` file (one is made in `dir` when it has none) and its URL in the environment.
pub fn prepare(dir: &Path, args: &mut Vec<String>, env: &mut Vec<(String, String)>) {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    env.push(("SIGIL_POSTGRES_URL".into(), create_database(&admin)));
    let section = "\n[storage]\nbackend = \"postgres\"\n";
    match args.windows(2).position(|w| w[0] == "--config") {
        Some(i) => {
            let path = &args[i + 1];
            let mut text = std::fs::read_to_string(path).expect("read the config file");
            text.push_str(section);
            std::fs::write(path, text).expect("append [storage] to the config file");
        }
        None => {
            let path = dir.join("storage.toml");
            std::fs::write(&path, section).expect("write storage.toml");
            args.push("--config".into());
            args.push(path.to_str().expect("utf-8 path").into());
        }
    }
}

/// The files of the database at `url` in its cluster (`<data_directory>/base/<oid>`), after a
/// `CHECKPOINT` has written every committed change into them: what to search for secrets, as
/// the RocksDB tests search the data directory. (The WAL is shared by the suite's databases and
/// holds the same tuples; the heap files keep dead versions too until vacuumed.)
pub fn postgres_database_dir(url: &str) -> std::path::PathBuf {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(url)
        .args([
            "-c",
            "CHECKPOINT",
            "-c",
            "SELECT current_setting('data_directory') || '/base/' || oid FROM pg_database \
             WHERE datname = current_database()",
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "the database's directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .expect("a path")
        .trim()
        .into()
}

impl crate::ControlPlane {
    /// The environment variable and URL of this control plane's database, on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.extra_env
            .iter()
            .find(|(k, _)| k == "SIGIL_POSTGRES_URL")
            .map(|(_, v)| v.as_str())
    }

    /// `sigil-cp ARGS… --data-dir D` with this control plane's configuration file and
    /// environment (on PostgreSQL: its database), for the offline commands (`audit verify`).
    pub fn offline_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::bin_path("sigil-cp"));
        cmd.args(self.config_args())
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Opens this (stopped) control plane's store directly, RocksDB or PostgreSQL.
    pub fn open_store(&self) -> Box<dyn sigil_storage::Store> {
        let cfs = sigil_controlplane::db::cf::ALL;
        match self.postgres_url() {
            Some(url) => Box::new(
                sigil_storage_postgres::PgStore::open(
                    &sigil_storage_postgres::PgOptions::new(url),
                    cfs,
                )
                .expect("open the control plane's PostgreSQL database"),
            ),
            None => Box::new(
                sigil_storage_rocksdb::RocksStore::open(
                    &self.data_dir.join("db"),
                    cfs,
                    &sigil_storage_rocksdb::RocksOptions::default(),
                )
                .expect("open the stopped control plane's RocksDB"),
            ),
        }
    }

    /// A control plane on an existing PostgreSQL database (`url`) with `toml` as its
    /// configuration (which names the backend), spawned but not awaited: a standby waits for
    /// the active node's lock before it binds. [`crate::ControlPlane::await_healthy`] waits.
    pub fn spawn_on_database(toml: &str, url: &str) -> Self {
        let dir = crate::new_tempdir();
        let path = dir.path().join("sigil-cp.toml");
        std::fs::write(&path, toml).expect("write the config file");
        let data_dir = dir.path().join("data");
        let mut cp = Self::bare(
            dir,
            data_dir,
            vec!["--config".into(), path.to_str().expect("utf-8 path").into()],
            vec![("SIGIL_POSTGRES_URL".into(), url.into())],
        );
        cp.spawn_child();
        cp
    }

    /// Waits until `/health` answers (or `timeout`).
    pub fn await_healthy(&mut self, timeout: std::time::Duration) -> Result<(), String> {
        self.wait_healthy(timeout)
    }

    /// Every directory holding this control plane's state on disk: its data directory and, on
    /// PostgreSQL, its database's files in the cluster ([`postgres_database_dir`]).
    pub fn state_dirs(&self) -> Vec<std::path::PathBuf> {
        let mut dirs = vec![self.data_dir.clone()];
        dirs.extend(self.postgres_url().map(postgres_database_dir));
        dirs
    }
}

/// For tests that read or write RocksDB files themselves: true (and a note on stdout) when the
/// suite runs on PostgreSQL, where the test returns early. Each says what covers it there.
pub fn skip_on_postgres(test: &str, covered_by: &str) -> bool {
    if is_postgres() {
        println!("{test}: skipped on PostgreSQL (it reads RocksDB files); there: {covered_by}");
        return true;
    }
    false
}
