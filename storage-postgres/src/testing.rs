//! A throwaway PostgreSQL server for tests (feature `testing`): Debian's binaries
//! (`/usr/lib/postgresql/<version>/bin`, or `SIGIL_PG_BINDIR`), a cluster in a temporary
//! directory listening on a free loopback port, password (SCRAM) authentication, optionally
//! TLS only. PostgreSQL refuses to run as root, so as root the cluster belongs to, and runs as,
//! the `postgres` user (`runuser`). Stopped (`immediate`) and deleted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "sigil";
const PASSWORD: &str = "sigil-test-password";

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl std::fmt::Debug for TempPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempPostgres")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish()
    }
}

/// Where the server binaries are.
pub fn bindir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SIGIL_PG_BINDIR") {
        return Ok(dir.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("/usr/lib/postgresql: {e} (run scripts/setup-debian.sh)"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server under /usr/lib/postgresql (run scripts/setup-debian.sh)".into()
    })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl TempPostgres {
    /// A server accepting password connections in the clear on loopback.
    pub fn start() -> Result<Self, String> {
        Self::start_inner(None)
    }

    /// A server that accepts TCP connections only over TLS, with this certificate and key.
    pub fn start_tls(cert: &Path, key: &Path) -> Result<Self, String> {
        Self::start_inner(Some((cert, key)))
    }

    fn start_inner(tls: Option<(&Path, &Path)>) -> Result<Self, String> {
        let bindir = bindir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("sigil-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let pw = dir.path().join("pw");
        std::fs::write(&pw, PASSWORD).map_err(|e| e.to_string())?;
        let mut conf = String::from("max_connections = 300\nlisten_addresses = '127.0.0.1'\n");
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            dir.path().display()
        ));
        if let Some((cert, key)) = tls {
            std::fs::copy(cert, dir.path().join("server.crt")).map_err(|e| e.to_string())?;
            std::fs::copy(key, dir.path().join("server.key")).map_err(|e| e.to_string())?;
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{0}/server.crt'\nssl_key_file = '{0}/server.key'\n",
                dir.path().display()
            ));
        }
        let mut this = Self {
            dir,
            bindir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(this.dir.path()))?;
        }
        let data = this.dir.path().join("data");
        this.run_pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                USER.as_ref(),
                format!("--pwfile={}", pw.display()).as_ref(),
                "--auth=scram-sha-256".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        let mut hba = String::from("local all all scram-sha-256\n");
        hba.push_str(if tls.is_some() {
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        } else {
            "host all all 127.0.0.1/32 scram-sha-256\n"
        });
        std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| e.to_string())?;
        std::fs::write(data.join("sigil-test.conf"), conf).map_err(|e| e.to_string())?;
        let mut main =
            std::fs::read_to_string(data.join("postgresql.conf")).map_err(|e| e.to_string())?;
        main.push_str("\ninclude 'sigil-test.conf'\n");
        std::fs::write(data.join("postgresql.conf"), main).map_err(|e| e.to_string())?;
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(this.dir.path()))?;
            run(Command::new("chmod")
                .arg("600")
                .arg(this.dir.path().join("server.key")))
            .or_else(|e| if tls.is_none() { Ok(()) } else { Err(e) })?;
        } else if tls.is_some() {
            run(Command::new("chmod")
                .arg("600")
                .arg(this.dir.path().join("server.key")))?;
        }
        let log = this.dir.path().join("log");
        let mut last = String::new();
        for _ in 0..3 {
            this.port = free_port()?;
            match this.run_pg(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-o".as_ref(),
                    format!("-p {}", this.port).as_ref(),
                    "start".as_ref(),
                ],
            ) {
                Ok(()) => return Ok(this),
                Err(e) => {
                    last = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default())
                }
            }
        }
        Err(format!("PostgreSQL did not start: {last}"))
    }

    fn run_pg(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let path = self.bindir.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir(self.dir.path());
        run(&mut cmd)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection URL for database `db` (`postgres` always exists).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs SQL as the superuser over the server's Unix socket (psql).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates database `name` (owned by the test user).
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .map(|_| ())
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.path().join("data");
            let _ = self.run_pg(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "stop".as_ref(),
                ],
            );
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
