//! End-to-end helpers for the key service: client identities made with `openssl` (self-signed,
//! as KES clients use them), `curl` over mutual TLS to a data plane's `[kes]` listener, the
//! `[kes]` configuration, an independent implementation of KES's AES256 ciphertexts in
//! python `cryptography`, and a [`Fleet`] (a control plane and data planes serving the key
//! service) with the checks on KES answers the end-to-end tests share.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::dp::{DataPlane, TcpProxy};
use crate::pki::{base64_encode, run, write_file};
use crate::tls::{curl, Curl, TlsFiles};
use crate::{free_port, ControlPlane};

/// A client key and self-signed certificate, and its KES identity (hex SHA-256 of the SPKI).
#[derive(Debug, Clone)]
pub struct KesIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub identity: String,
}

impl KesIdentity {
    /// Makes `name.pem`/`name.key` in `dir` (P-256, self-signed) and computes the identity with
    /// openssl (`x509 -pubkey | pkey -pubin -outform DER | sha256`).
    pub fn generate(dir: &Path, name: &str) -> Self {
        let script = format!(
            r#"set -e; cd "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN={name}" -keyout {name}.key -out {name}.pem 2>/dev/null
openssl x509 -in {name}.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1"#
        );
        let out = run("sh", &["-c", &script, "sh", dir.to_str().unwrap()]);
        let identity = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(identity.len(), 64, "identity of {name}: {identity:?}");
        KesIdentity {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
            identity,
        }
    }
}

/// 32 random bytes in base64 (a key-encryption key, or key material to import).
pub fn random_key_b64() -> String {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut u| u.read_exact(&mut b))
        .expect("read /dev/urandom");
    base64_encode(&b)
}

/// Writes the KEK to `dir/kek` with mode 0600; returns the path.
pub fn write_kek(dir: &Path, kek_b64: &str) -> PathBuf {
    let path = dir.join("kek");
    write_file(&path, format!("{kek_b64}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// The data plane's `[kes]` section.
pub fn dp_section(port: u16, tls: &TlsFiles, admin: &str, kek_file: &Path) -> String {
    format!(
        "[kes]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\nadmin = \"{admin}\"\nkek_file = {:?}\nforward_timeout_ms = 5000\n",
        tls.cert, tls.key, kek_file
    )
}

/// A KES client: `curl` with a client certificate (or none) against one listener.
#[derive(Debug, Clone)]
pub struct KesClient {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub port: u16,
    pub who: Option<KesIdentity>,
}

impl KesClient {
    /// `method path` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Curl {
        let url = format!("https://127.0.0.1:{}{path}", self.port);
        let mut args: Vec<String> = vec!["-X".into(), method.into()];
        if let Some(who) = &self.who {
            args.extend([
                "--cert".into(),
                who.cert.display().to_string(),
                "--key".into(),
                who.key.display().to_string(),
            ]);
        }
        if let Some(body) = body {
            let file = crate::pki::unique_path(&self.dir, "body", "json");
            write_file(&file, body);
            args.extend([
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data-binary".into(),
                format!("@{}", file.display()),
            ]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&self.dir, &self.ca, &url, &refs)
    }

    /// The same listener as another identity.
    pub fn as_identity(&self, who: Option<&KesIdentity>) -> Self {
        Self {
            who: who.cloned(),
            ..self.clone()
        }
    }
}

/// The KES message of an error answer.
pub fn message(c: &Curl) -> String {
    c.json()["message"].as_str().unwrap_or_default().to_string()
}

/// Runs python `cryptography` over KES's AES256 raw format: `op` is `encrypt` (prints the
/// base64 ciphertext of `data`) or `decrypt` (prints the base64 plaintext of ciphertext
/// `data`); `key`, `data` and `context` are base64.
pub fn python_kes(op: &str, key: &str, data: &str, context: &str) -> String {
    const SCRIPT: &str = r#"
import base64, hashlib, hmac, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
op, key, data, ctx = sys.argv[1], *[base64.b64decode(a) for a in sys.argv[2:5]]
if op == "encrypt":
    iv, nonce = os.urandom(16), os.urandom(12)
    k = hmac.new(key, iv, hashlib.sha256).digest()
    out = AESGCM(k).encrypt(nonce, data, ctx) + iv + nonce
else:
    sealed, iv, nonce = data[:-28], data[-28:-12], data[-12:]
    k = hmac.new(key, iv, hashlib.sha256).digest()
    out = AESGCM(k).decrypt(nonce, sealed, ctx)
print(base64.b64encode(out).decode())
"#;
    let out = run("python3", &["-c", SCRIPT, op, key, data, context]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A control plane and data planes serving the key service.
pub struct Fleet {
    pub cp: ControlPlane,
    /// The data planes' address of the control plane, stable across its restarts.
    pub proxy: TcpProxy,
    pub dps: Vec<DataPlane>,
    /// The admin identity's client on the first data plane.
    pub admin: KesClient,
    pub tls: TlsFiles,
    /// The admin identity, then a user identity.
    pub ids: Vec<KesIdentity>,
}

/// A control plane and `n` data planes serving the key service; the admin identity's client
/// on the first.
pub fn fleet(n: usize, dir: &Path) -> Fleet {
    let tls = TlsFiles::generate(&dir.join("tls"));
    let kek = random_key_b64();
    let kek_file = write_kek(dir, &kek);
    let admin = KesIdentity::generate(dir, "admin");
    let user = KesIdentity::generate(dir, "user");
    let cp = ControlPlane::start_with(None, &[("SIGIL_KES_KEK", kek.as_str())], true);
    let proxy = TcpProxy::start(cp.port());
    let mut dps = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let port = free_port();
        let toml = dp_section(port, &tls, &admin.identity, &kek_file);
        dps.push(DataPlane::start_with_config(&proxy.url(), Some(&toml)));
        ports.push(port);
    }
    let client = KesClient {
        dir: dir.to_path_buf(),
        ca: tls.ca.clone(),
        port: ports[0],
        who: Some(admin.clone()),
    };
    Fleet {
        cp,
        proxy,
        dps,
        admin: client,
        tls,
        ids: vec![admin, user],
    }
}

/// Asserts a 200 answer (`what` names the step) and returns its JSON.
pub fn ok(c: &Curl, what: &str) -> serde_json::Value {
    assert_eq!(
        c.code(),
        200,
        "{what}: {} {}",
        c.status,
        String::from_utf8_lossy(&c.body)
    );
    c.json()
}

/// Asserts an error answer: `status` and KES's `message` `text`.
pub fn expect(c: &Curl, status: u16, text: &str, what: &str) {
    assert_eq!(
        (c.code(), message(c).as_str()),
        (status, text),
        "{what}: {}",
        String::from_utf8_lossy(&c.body)
    );
}
