//! The crash-consistency ("chaos") workload: a thread making changes of every kind against a
//! control plane that the test `kill -9`s at random moments, and a ledger of what each
//! request got back — an acknowledgement (2xx), a refusal (another status) or no answer (the
//! connection failed or timed out: the change may or may not have happened). [`verify`]
//! then checks the control plane against the ledger.
//!
//! Changes: issuance, revocation, bulk revocation, OTP creation and use through EST, API keys,
//! KES key creation and deletion and policy writes, SSH users and their keys.

pub mod verify;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::pki::gen_csr;
use crate::ADMIN_TOKEN;

/// A small deterministic generator (xorshift64*), seeded from `SIGIL_CHAOS_SEED` or the clock;
/// the seed is printed so a failing run can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Self {
        let seed = std::env::var("SIGIL_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("chaos seed: SIGIL_CHAOS_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A generator of its own, seeded from this one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64() | 1)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn between_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// What a request got back.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 2xx, with the JSON body (`Null` when empty).
    Acked(Value),
    /// Another status: the change was refused and must not have happened.
    Refused(u16, Value),
    /// No answer: the change may or may not have happened, but never half.
    NoAnswer,
}

impl Outcome {
    pub fn acked(&self) -> bool {
        matches!(self, Outcome::Acked(_))
    }
}

/// One change the workload asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Issue {
        cn: String,
    },
    Revoke {
        cert_id: String,
    },
    BulkRevoke {
        cert_ids: Vec<String>,
    },
    OtpCreate {
        entity: String,
    },
    /// An EST `simpleenroll` with the OTP as password, CN = the OTP's entity.
    OtpUse {
        entity: String,
        secret: String,
    },
    ApiKeyCreate {
        name: String,
    },
    KesKeyCreate {
        name: String,
    },
    KesKeyDelete {
        name: String,
    },
    KesPolicyPut {
        name: String,
        allow: String,
    },
    SshUserCreate {
        cn: String,
        key: String,
    },
    SshUserDelete {
        cn: String,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub op: Op,
    pub outcome: Outcome,
    /// How many control-plane starts had happened when the request was sent.
    pub epoch: u32,
}

/// Where the control plane currently listens (it restarts on a new admin port) and the EST
/// settings; shared between the test's thread and the workload's.
#[derive(Debug)]
pub struct Target {
    pub admin_url: RwLock<String>,
    pub est_url: String,
    pub est_ca: PathBuf,
    pub work: PathBuf,
    pub epoch: std::sync::atomic::AtomicU32,
}

/// The workload thread's handle: the ledger, and a gate the verifier closes to stop changes
/// while it reads (so a change cannot land between two reads of one check).
pub struct Workload {
    pub ledger: Arc<Mutex<Vec<Entry>>>,
    pub gate: Arc<RwLock<()>>,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Workload {
    pub fn start(target: Arc<Target>, mut rng: Rng) -> Self {
        let mut w = Workload {
            ledger: Arc::new(Mutex::new(Vec::new())),
            gate: Arc::new(RwLock::new(())),
            stop: Arc::new(AtomicBool::new(false)),
            handles: Vec::new(),
        };
        let work = target.work.clone();
        w.spawn(target, move |ledger, n| next_op(&mut rng, ledger, n, &work));
        w
    }

    /// Adds `threads` threads that only issue certificates (each with a CN of its own), into
    /// the same ledger: concurrent commits, which the control plane writes in groups — so
    /// that kills also land in the middle of a group's write.
    pub fn add_issuers(&mut self, target: Arc<Target>, threads: usize) {
        for t in 0..threads {
            self.spawn(target.clone(), move |_, n| Op::Issue {
                cn: format!("group-{t}-{n}.chaos.test"),
            });
        }
    }

    /// A thread sending the changes `next(ledger, n)` picks, one at a time, each under the
    /// gate and recorded in the ledger with what it got back.
    fn spawn(
        &mut self,
        target: Arc<Target>,
        mut next: impl FnMut(&[Entry], u64) -> Op + Send + 'static,
    ) {
        let (l, g, s) = (self.ledger.clone(), self.gate.clone(), self.stop.clone());
        self.handles.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(2))
                .build()
                .expect("http client");
            let mut n = 0u64;
            while !s.load(Ordering::SeqCst) {
                let _open = g.read().unwrap_or_else(|p| p.into_inner());
                n += 1;
                let op = next(&l.lock().unwrap(), n);
                let epoch = target.epoch.load(Ordering::SeqCst);
                let outcome = perform(&client, &target, &op);
                let failed = outcome == Outcome::NoAnswer;
                l.lock().unwrap().push(Entry { op, outcome, epoch });
                drop(_open);
                if failed {
                    // The control plane is down: do not spin.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }));
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            h.join().expect("workload thread");
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.ledger.lock().unwrap().clone()
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Ids of certificates whose issuance was acknowledged and whose revocation was not asked.
fn live_certs(ledger: &[Entry]) -> Vec<String> {
    let mut ids: Vec<String> = ledger
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Issue { .. }, Outcome::Acked(v)) => v["id"].as_str().map(str::to_owned),
            _ => None,
        })
        .collect();
    for e in ledger {
        match &e.op {
            Op::Revoke { cert_id } => ids.retain(|i| i != cert_id),
            Op::BulkRevoke { cert_ids } => ids.retain(|i| !cert_ids.contains(i)),
            _ => {}
        }
    }
    ids
}

/// Names whose creation (`create`) was acknowledged and that no later op deleted.
fn live_names(
    ledger: &[Entry],
    created: impl Fn(&Op) -> Option<&String>,
    deleted: impl Fn(&Op) -> Option<&String>,
) -> Vec<String> {
    let mut names = Vec::new();
    for e in ledger {
        if let (Some(n), true) = (created(&e.op), e.outcome.acked()) {
            names.push(n.clone());
        }
        if let Some(n) = deleted(&e.op) {
            names.retain(|x| x != n);
        }
    }
    names
}

fn next_op(rng: &mut Rng, ledger: &[Entry], n: u64, work: &std::path::Path) -> Op {
    let certs = live_certs(ledger);
    let pick = |rng: &mut Rng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
    // OTPs created (acknowledged) and not yet tried.
    let fresh_otp = ledger.iter().find_map(|e| match (&e.op, &e.outcome) {
        (Op::OtpCreate { entity }, Outcome::Acked(v))
            if !ledger
                .iter()
                .any(|u| matches!(&u.op, Op::OtpUse { entity: x, .. } if x == entity)) =>
        {
            Some((
                entity.clone(),
                v["otp"].as_str().unwrap_or_default().to_owned(),
            ))
        }
        _ => None,
    });
    let kes_keys = live_names(
        ledger,
        |o| matches!(o, Op::KesKeyCreate { .. }).then(|| kes_name(o)),
        |o| matches!(o, Op::KesKeyDelete { .. }).then(|| kes_name(o)),
    );
    let ssh_users = live_names(
        ledger,
        |o| match o {
            Op::SshUserCreate { cn, .. } => Some(cn),
            _ => None,
        },
        |o| match o {
            Op::SshUserDelete { cn } => Some(cn),
            _ => None,
        },
    );
    loop {
        return match rng.below(100) {
            0..=29 => Op::Issue {
                cn: format!("chaos-{n}.example.com"),
            },
            30..=39 if !certs.is_empty() => Op::Revoke {
                cert_id: pick(rng, &certs),
            },
            40..=44 if certs.len() >= 3 => {
                let mut ids = Vec::new();
                for _ in 0..3 {
                    let id = pick(rng, &certs);
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                Op::BulkRevoke { cert_ids: ids }
            }
            45..=52 => Op::OtpCreate {
                entity: format!("device-{n}.example.com"),
            },
            53..=62 if fresh_otp.is_some() => {
                let (entity, secret) = fresh_otp.clone().unwrap();
                Op::OtpUse { entity, secret }
            }
            63..=67 => Op::ApiKeyCreate {
                name: format!("chaos key {n}"),
            },
            68..=75 => Op::KesKeyCreate {
                name: format!("chaos-key-{n}"),
            },
            76..=79 if !kes_keys.is_empty() => Op::KesKeyDelete {
                name: pick(rng, &kes_keys),
            },
            80..=85 => Op::KesPolicyPut {
                name: format!("chaos-policy-{}", n % 5),
                allow: format!("/v1/key/generate/chaos-key-{n}"),
            },
            86..=95 => Op::SshUserCreate {
                cn: format!("chaos{n}"),
                key: ssh_key(work, n),
            },
            96..=99 if !ssh_users.is_empty() => Op::SshUserDelete {
                cn: pick(rng, &ssh_users),
            },
            _ => continue,
        };
    }
}

fn kes_name(op: &Op) -> &String {
    match op {
        Op::KesKeyCreate { name } | Op::KesKeyDelete { name } => name,
        _ => unreachable!("only called for KES key ops"),
    }
}

/// A new Ed25519 public key line from `ssh-keygen`.
pub fn ssh_key(work: &std::path::Path, n: u64) -> String {
    let path = work.join(format!("chaos-ssh-{n}"));
    let _ = std::fs::remove_file(&path);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "chaos", "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    std::fs::read_to_string(path.with_extension("pub"))
        .expect("public key")
        .trim()
        .to_owned()
}

pub fn group_dn(g: &str) -> String {
    format!("cn={g},ou=groups,dc=sigil,dc=local")
}

/// Sends `op` once; never retries (a retry would blur what was acknowledged).
fn perform(client: &reqwest::blocking::Client, t: &Target, op: &Op) -> Outcome {
    let base = t.admin_url.read().unwrap().clone();
    let call = |method: &str, path: &str, body: Option<Value>| -> Outcome {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = client
            .request(m, format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let Ok(resp) = req.send() else {
            return Outcome::NoAnswer;
        };
        let status = resp.status().as_u16();
        let Ok(bytes) = resp.bytes() else {
            return Outcome::NoAnswer;
        };
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Outcome::Acked(v)
        } else {
            Outcome::Refused(status, v)
        }
    };
    match op {
        Op::Issue { cn } => {
            let csr = gen_csr(&t.work, cn, &[cn]);
            call(
                "POST",
                crate::ISSUE_PATH,
                Some(json!({"issuer_id": "demo", "csr": csr})),
            )
        }
        Op::Revoke { cert_id } => call(
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(json!({"reason": "keyCompromise"})),
        ),
        Op::BulkRevoke { cert_ids } => call(
            "POST",
            "/api/v1/certificates/bulk-revoke",
            Some(json!({"reason": "superseded", "certificate_ids": cert_ids})),
        ),
        Op::OtpCreate { entity } => call(
            "POST",
            "/admin/otp",
            Some(json!({"entity_id": entity, "ttl": 86400, "max_uses": 1})),
        ),
        Op::OtpUse { entity, secret } => est_enroll(t, entity, secret),
        Op::ApiKeyCreate { name } => call(
            "POST",
            "/api/v1/apikeys",
            Some(json!({"name": name, "role": "viewer"})),
        ),
        Op::KesKeyCreate { name } => call("POST", "/api/v1/kes/keys", Some(json!({"name": name}))),
        Op::KesKeyDelete { name } => call("DELETE", &format!("/api/v1/kes/keys/{name}"), None),
        Op::KesPolicyPut { name, allow } => call(
            "PUT",
            &format!("/api/v1/kes/policies/{name}"),
            Some(json!({"allow": [allow], "deny": []})),
        ),
        Op::SshUserCreate { cn, key } => call(
            "POST",
            "/api/users",
            Some(json!({
                "cn": cn, "userPassword": "correct horse battery",
                "confirmPassword": "correct horse battery", "givenName": cn, "sn": "Chaos",
                "memberOfs": [group_dn("chaos")], "principal": cn,
                "sshPublicKeys": [{"name": "k", "key": key, "hostGroups": [group_dn("chaos")]}],
            })),
        ),
        Op::SshUserDelete { cn } => call("DELETE", &format!("/api/users/{cn}"), None),
    }
}

/// `simpleenroll` with curl (the EST client side of the end-to-end tests): a new P-256 key,
/// CN = the OTP's entity, `-u entity:otp`.
fn est_enroll(t: &Target, entity: &str, secret: &str) -> Outcome {
    let key = t.work.join(format!("{entity}.key"));
    let b64 = t.work.join(format!("{entity}.b64"));
    let script = format!(
        "set -e; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {} -subj \"/CN={entity}\" -outform DER | base64 > {}",
        key.display(),
        b64.display()
    );
    crate::run("sh", &["-c", &script]);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&t.est_ca)
        .args(["-H", "Content-Type: application/pkcs10"])
        .args(["-H", "Content-Transfer-Encoding: base64"])
        .arg("--data-binary")
        .arg(format!("@{}", b64.display()))
        .args(["-u", &format!("{entity}:{secret}")])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/.well-known/est/simpleenroll", t.est_url))
        .output()
        .expect("curl");
    match String::from_utf8_lossy(&out.stdout).trim().parse::<u16>() {
        Ok(200) => Outcome::Acked(Value::Null),
        Ok(0) | Err(_) => Outcome::NoAnswer,
        Ok(s) => Outcome::Refused(s, Value::Null),
    }
}
