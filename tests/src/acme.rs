//! ACME (RFC 8555) from the client side: a control plane with `[acme]` on its https public
//! listener, Debian's `certbot` as the client (standalone http-01 on a free port), and the
//! files certbot writes read back for `openssl`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sigil_acme::b64u;

use crate::api::CertFiles;
use crate::est::EstServer;
use crate::free_port;
use crate::tls::{curl, Curl};

/// A control plane serving ACME on its public listener (demo CAs; validation allowed on
/// loopback and pointed at `http01_port`).
pub struct AcmeServer {
    pub est: EstServer,
    pub http01_port: u16,
}

impl AcmeServer {
    /// Starts with `extra` appended to the `[acme]` section.
    pub fn start(extra: &str) -> Self {
        let http01_port = free_port();
        let extra = extra.to_owned();
        let est = EstServer::start_with(move |port| {
            format!(
                "[acme]\nenabled = true\nexternal_url = \"https://127.0.0.1:{port}\"\n\
                 http01_port = {http01_port}\nallow_loopback = true\nvalidation_timeout_secs = 5\n{extra}\n"
            )
        });
        Self { est, http01_port }
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/acme/directory", self.est.public_port)
    }

    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}/acme", self.est.public_port)
    }

    /// Runs `certbot <args>` with its state in `dir`, trusting the listener's CA.
    pub fn certbot(&self, dir: &Path, args: &[&str]) -> Output {
        let (config, work, logs) = (dir.join("config"), dir.join("work"), dir.join("logs"));
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--config-dir",
            config.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
            "--logs-dir",
            logs.to_str().unwrap(),
            "--non-interactive",
        ]);
        let ca = self.est.tls.ca.to_str().unwrap().to_owned();
        let out = std::process::Command::new("certbot")
            .args(&all)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .output()
            .expect("run certbot (apt-get install certbot)");
        out
    }
}

/// The files certbot keeps for `name` (`live/<name>/`), split for `openssl ocsp`: the leaf,
/// the issuing CA alone and the whole chain.
pub fn certbot_files(dir: &Path, name: &str) -> CertFiles {
    let live = dir.join("config/live").join(name);
    let chain = std::fs::read_to_string(live.join("chain.pem")).expect("chain.pem");
    let end = "-----END CERTIFICATE-----";
    let first = &chain[..chain.find(end).expect("a certificate in chain.pem") + end.len()];
    let issuing = dir.join(format!("{name}-issuing.pem"));
    std::fs::write(&issuing, format!("{first}\n")).unwrap();
    CertFiles {
        leaf: live.join("cert.pem"),
        issuing,
        bundle: live.join("chain.pem"),
    }
}

/// certbot's log (for failure messages).
pub fn certbot_log(dir: &Path) -> String {
    let p: PathBuf = dir.join("logs/letsencrypt.log");
    let log = std::fs::read_to_string(p).unwrap_or_default();
    crate::tail(&log, 80)
}

/// An ES256 key (P-256) for signing JWSs, from `openssl genpkey` (so the same key can sign a
/// CSR) or generated.
pub struct Key {
    pair: EcdsaKeyPair,
    /// PEM file of the key (for `openssl req`).
    pub pem: PathBuf,
}

impl Key {
    /// A new P-256 key written to `dir/<name>.key`.
    pub fn generate(dir: &Path, name: &str) -> Self {
        let pem = crate::pki::unique_path(dir, name, "key");
        let der = crate::pki::unique_path(dir, name, "der");
        crate::pki::run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                pem.to_str().unwrap(),
            ],
        );
        crate::pki::run(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                pem.to_str().unwrap(),
                "-outform",
                "DER",
                "-out",
                der.to_str().unwrap(),
            ],
        );
        let pkcs8 = std::fs::read(&der).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .expect("a P-256 PKCS#8 key");
        Self { pair, pem }
    }

    pub fn jwk(&self) -> Value {
        let pt = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64u(&pt[1..33]), "y": b64u(&pt[33..])})
    }

    pub fn thumbprint(&self) -> String {
        sigil_acme::Jwk::from_json(&self.jwk())
            .unwrap()
            .thumbprint()
    }

    /// A flattened JWS of `payload` ("" for POST-as-GET) under `protected`.
    pub fn sign(&self, protected: &Value, payload: &str) -> Value {
        let p = b64u(protected.to_string().as_bytes());
        let pl = b64u(payload.as_bytes());
        let sig = self
            .pair
            .sign(&SystemRandom::new(), format!("{p}.{pl}").as_bytes())
            .unwrap();
        json!({"protected": p, "payload": pl, "signature": b64u(sig.as_ref())})
    }
}

/// A minimal ACME client over `curl` (the listener is https), for the protocol's refusals.
pub struct Client<'a> {
    pub server: &'a AcmeServer,
    pub key: Key,
    /// The account URL once registered.
    pub kid: Option<String>,
    pub dir: PathBuf,
}

impl<'a> Client<'a> {
    pub fn new(server: &'a AcmeServer, dir: &Path, name: &str) -> Self {
        Self {
            server,
            key: Key::generate(dir, name),
            kid: None,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.server.base())
    }

    /// A fresh nonce (`HEAD newNonce`).
    pub fn nonce(&self) -> String {
        let r = self.curl(&self.url("new-nonce"), &["-I"]);
        header(&r.headers, "replay-nonce")
            .expect("Replay-Nonce")
            .to_owned()
    }

    pub fn curl(&self, url: &str, extra: &[&str]) -> Curl {
        curl(&self.dir, &self.server.est.tls.ca, url, extra)
    }

    /// POSTs `body` as `application/jose+json`.
    pub fn post_body(&self, url: &str, body: &Value) -> Curl {
        let f = crate::pki::unique_path(&self.dir, "jws", "json");
        std::fs::write(&f, body.to_string()).unwrap();
        let data = format!("@{}", f.display());
        self.curl(
            url,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/jose+json",
                "--data-binary",
                &data,
            ],
        )
    }

    /// The protected header for `url`: `kid` once registered, else `jwk`.
    pub fn protected(&self, url: &str, nonce: &str) -> Value {
        let mut h = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(k) => h["kid"] = json!(k),
            None => h["jwk"] = self.key.jwk(),
        }
        h
    }

    /// A signed POST of `payload` (`None`: POST-as-GET) to `url`.
    pub fn post(&self, url: &str, payload: Option<&Value>) -> Curl {
        let h = self.protected(url, &self.nonce());
        let p = payload.map_or(String::new(), Value::to_string);
        self.post_body(url, &self.key.sign(&h, &p))
    }

    /// `newAccount`: sets `kid`; returns the answer.
    pub fn register(&mut self) -> Curl {
        let r = self.post(
            &self.url("new-account"),
            Some(&json!({"termsOfServiceAgreed": true})),
        );
        assert!(
            matches!(r.code(), 200 | 201),
            "newAccount: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        self.kid = header(&r.headers, "location").map(str::to_owned);
        r
    }

    /// `newOrder` for DNS names.
    pub fn order(&self, names: &[&str]) -> Curl {
        let ids: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        self.post(&self.url("new-order"), Some(&json!({"identifiers": ids})))
    }

    /// Polls `url` (POST-as-GET) until its status is not `pending`/`processing`.
    pub fn poll(&self, url: &str) -> Value {
        for _ in 0..100 {
            let v = self.post(url, None).json();
            if v["status"] != "pending" && v["status"] != "processing" {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{url} stayed pending");
    }

    /// The key authorization of `token` for this client's key.
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.key.thumbprint())
    }
}

/// The value of header `name` in curl's dump of the response headers.
pub fn header<'h>(headers: &'h str, name: &str) -> Option<&'h str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Serves http-01 answers (`/.well-known/acme-challenge/<token>` → key authorization) on
/// `127.0.0.1:port` until dropped.
pub struct Http01 {
    answers: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
}

impl Http01 {
    pub fn serve(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the http-01 port");
        listener.set_nonblocking(true).unwrap();
        let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (answers.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                c.set_nonblocking(false).unwrap();
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split_whitespace().nth(1).unwrap_or_default();
                let token = path.rsplit('/').next().unwrap_or_default();
                let answer = a.lock().unwrap().get(token).cloned();
                let resp = match answer {
                    Some(ka) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ka}",
                        ka.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .into()
                    }
                };
                let _ = c.write_all(resp.as_bytes());
            }
        });
        Self { answers, stop }
    }

    pub fn answer(&self, token: &str, key_authorization: &str) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), key_authorization.to_owned());
    }
}

impl Drop for Http01 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
