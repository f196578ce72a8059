//! A real OpenSSH server for end-to-end tests: `sshd` on a loopback port with its own
//! configuration, host key and pid file, its `AuthorizedKeysCommand` /
//! `AuthorizedPrincipalsCommand` being `sigil-authkeys`; system users for the logins; `ssh`
//! as the client. Needs root (CI runs as root): sshd only runs key commands owned by root
//! from directories nobody else can write, and logs in only users that exist.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::pki::write_file;
use crate::{bin_path, free_port};

/// Whether this process can run sshd tests (root, sshd installed).
pub fn available() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
        && Path::new("/usr/sbin/sshd").exists()
}

/// Creates system user `name` (home, `/bin/sh`, key logins allowed) unless it exists.
pub fn ensure_user(name: &str) {
    let exists = Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", name])
            .output()
            .expect("run useradd");
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // useradd leaves the password locked ("!"), which sshd without PAM takes as a locked
    // account; "*" allows key logins and no password.
    let out = Command::new("usermod")
        .args(["-p", "*", name])
        .output()
        .expect("run usermod");
    assert!(
        out.status.success(),
        "usermod {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies `sigil-authkeys` where sshd accepts a key command: a root-owned file in a chain of
/// root-owned directories nobody else may write (`/var/lib/sigil-e2e/<pid>`).
pub fn install_helper() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = PathBuf::from(format!("/var/lib/sigil-e2e/{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir helper dir");
    for d in [Path::new("/var/lib/sigil-e2e"), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dest = dir.join("sigil-authkeys");
    if !dest.exists() {
        let tmp = dir.join(".sigil-authkeys.tmp");
        std::fs::copy(bin_path("sigil-authkeys"), &tmp).expect("copy sigil-authkeys");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
    }
    dest
}

/// A key pair made with `ssh-keygen` (Ed25519): `<dir>/<name>` and `<name>.pub`.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

/// A running sshd, killed on drop.
pub struct Sshd {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// The host key pair (`ssh_host_ed25519_key`).
    pub host_key: PathBuf,
}

/// What the sshd_config contains besides the basics.
#[derive(Debug, Default, Clone)]
pub struct SshdOptions {
    /// `sigil-authkeys` (installed) and its configuration file.
    pub helper: Option<(PathBuf, PathBuf)>,
    /// `TrustedUserCAKeys` file.
    pub user_ca: Option<PathBuf>,
    /// `RevokedKeys` file.
    pub krl: Option<PathBuf>,
    /// `HostCertificate` file (for the host key).
    pub host_cert: Option<PathBuf>,
}

impl Sshd {
    /// Generates a host key in a fresh directory (before [`Sshd::start`], to certify it).
    pub fn prepare() -> (tempfile::TempDir, PathBuf) {
        let dir = crate::new_tempdir();
        let (key, _) = keygen(dir.path(), "ssh_host_ed25519_key");
        (dir, key)
    }

    /// Starts sshd in `dir` (from [`Sshd::prepare`]) and waits until it accepts connections.
    pub fn start(dir: tempfile::TempDir, host_key: PathBuf, opts: &SshdOptions) -> Self {
        std::fs::create_dir_all("/run/sshd").expect("privilege separation dir");
        let port = free_port();
        let mut cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile none\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel DEBUG1\nPrintMotd no\n",
            host_key.display(),
            dir.path().join("sshd.pid").display()
        );
        if let Some((helper, config)) = &opts.helper {
            let c = config.display();
            let h = helper.display();
            cfg.push_str(&format!(
                "AuthorizedKeysCommand {h} --config {c} %u %f\nAuthorizedKeysCommandUser root\nAuthorizedPrincipalsCommand {h} --config {c} --principals %u %f %s %i\nAuthorizedPrincipalsCommandUser root\n"
            ));
        }
        if let Some(ca) = &opts.user_ca {
            cfg.push_str(&format!("TrustedUserCAKeys {}\n", ca.display()));
        }
        if let Some(krl) = &opts.krl {
            cfg.push_str(&format!("RevokedKeys {}\n", krl.display()));
        }
        if let Some(cert) = &opts.host_cert {
            cfg.push_str(&format!("HostCertificate {}\n", cert.display()));
        }
        let config = dir.path().join("sshd_config");
        write_file(&config, cfg);
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn sshd");
        let sshd = Sshd {
            dir,
            port,
            child: Some(child),
            host_key,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not start\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshd's log (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `ssh -i key [-o CertificateFile=cert] user@127.0.0.1 -p port echo sigil-login-ok`,
    /// trusting host keys as `known_hosts` says (a file, and the name the host certificate
    /// carries, given as `HostKeyAlias`), or accepting any.
    pub fn ssh(
        &self,
        user: &str,
        key: &Path,
        cert: Option<&Path>,
        known_hosts: Option<(&Path, &str)>,
    ) -> Output {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-p", &self.port.to_string(), "-i"])
            .arg(key)
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=10",
            ])
            .args(["-o", "PreferredAuthentications=publickey"]);
        match known_hosts {
            Some((k, alias)) => {
                c.args(["-o", "StrictHostKeyChecking=yes", "-o"])
                    .arg(format!("UserKnownHostsFile={}", k.display()))
                    .arg("-o")
                    .arg(format!("HostKeyAlias={alias}"));
            }
            None => {
                c.args([
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                ]);
            }
        }
        if let Some(cert) = cert {
            c.arg("-o")
                .arg(format!("CertificateFile={}", cert.display()));
        }
        c.arg(format!("{user}@127.0.0.1"))
            .args(["echo", "sigil-login-ok"])
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// Whether `ssh` logged in (and ran the command).
    pub fn logs_in(
        &self,
        user: &str,
        key: &Path,
        cert: Option<&Path>,
        known_hosts: Option<(&Path, &str)>,
    ) -> bool {
        let out = self.ssh(user, key, cert, known_hosts);
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sigil-login-ok")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        crate::process::kill9(self.child.take());
    }
}
