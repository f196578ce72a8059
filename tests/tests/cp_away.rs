//! The control plane away for longer than its responses are valid (issue 19, item 7): a real
//! `sigil-cp` signing OCSP responses and CRLs valid for seconds (`test_validity_secs`), a real
//! `sigil-dp` with the key service and SSH data, then the control plane `kill -9`ed and kept
//! away past every nextUpdate. The data plane must answer OCSP `tryLater` — never a response
//! past its nextUpdate —, keep serving the last CRL byte for byte (flagged in its metrics),
//! keep the key service and SSH lookups working, and stay ready while `/health/ready` says
//! degraded; once the control plane is back, fresh responses flow and degraded clears.
//! Responses and CRLs are judged by python `cryptography` and `openssl`.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::dp::{ocsp_request, wait_for, DataPlane, TcpProxy};
use sigil_tests::kes::{dp_section, random_key_b64, write_kek, KesClient, KesIdentity};
use sigil_tests::pki::{base64_encode, ocsp_verify, run};
use sigil_tests::sshd::keygen;
use sigil_tests::tls::TlsFiles;
use sigil_tests::{free_port, CertFiles, ControlPlane};

/// Validity of the control plane's OCSP responses and CRLs, seconds (re-signed and
/// regenerated after a third of it while the control plane runs).
const VALIDITY: u64 = 15;
/// How long a `tryLater` keeps the data plane degraded.
const WINDOW: u64 = 3;
const HOST: &str = "awayhost";
const USER: &str = "awayuser";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An OCSP response as python `cryptography` reads it: the response status (`SUCCESSFUL`,
/// `TRY_LATER`, …) and, when successful, the certificate status and nextUpdate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: String,
    cert_status: String,
    next_update: i64,
}

fn read_ocsp(der: &[u8]) -> Seen {
    const SCRIPT: &str = r#"
import base64, sys
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(base64.b64decode(sys.argv[1]))
if r.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
    print(r.response_status.name, "-", 0)
else:
    print("SUCCESSFUL", r.certificate_status.name, int(r.next_update_utc.timestamp()))
"#;
    let out = run("python3", &["-c", SCRIPT, &base64_encode(der)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 3, "python read {text:?}");
    Seen {
        status: f[0].into(),
        cert_status: f[1].into(),
        next_update: f[2].parse().unwrap(),
    }
}

/// A CRL's (thisUpdate, nextUpdate) as python `cryptography` reads them.
fn crl_times(der: &[u8]) -> (i64, i64) {
    const SCRIPT: &str = r#"
import base64, sys
from cryptography import x509
c = x509.load_der_x509_crl(base64.b64decode(sys.argv[1]))
print(int(c.last_update_utc.timestamp()), int(c.next_update_utc.timestamp()))
"#;
    let out = run("python3", &["-c", SCRIPT, &base64_encode(der)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(|n| n.parse().unwrap());
    (f.next().unwrap(), f.next().unwrap())
}

/// The three OCSP forms a client may use for one certificate.
struct Probe {
    files: CertFiles,
    post: Vec<u8>,
    get: String,
    by_serial: String,
}

impl Probe {
    fn new(cp: &ControlPlane, dir: &Path) -> Self {
        let issuer = cp.demo_issuer_id();
        let cert = cp.issue_new(&issuer, "away.example.com");
        let files = cert.write(dir, "away");
        let post = ocsp_request(dir, &files, false);
        let pct = base64_encode(&post)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        Probe {
            files,
            post,
            get: format!("/ocsp/{pct}"),
            by_serial: format!("/.well-known/pki/ocsp/{issuer}/{}", cert.serial),
        }
    }

    /// Asks by POST, GET and serial; every answer is HTTP 200 and, when successful, not past
    /// its nextUpdate. Returns the three answers.
    fn ask(&self, dp: &DataPlane) -> [(Seen, Vec<u8>); 3] {
        let sent = now();
        let answers = [
            dp.post_ocsp("/", &self.post),
            dp.get(&self.get),
            dp.get(&self.by_serial),
        ];
        answers.map(|r| {
            assert_eq!(r.status, 200, "OCSP: {}", r.head);
            let seen = read_ocsp(&r.body);
            if seen.status == "SUCCESSFUL" {
                assert!(
                    seen.next_update > sent,
                    "a response past its nextUpdate ({}) was served at {sent}\n{}",
                    seen.next_update,
                    dp.logs()
                );
            }
            (seen, r.body)
        })
    }

    /// Waits until every form is answered good by a response that verifies.
    fn wait_good(&self, dp: &DataPlane, timeout: Duration) -> i64 {
        wait_for(timeout, "a good OCSP response", || {
            let answers = self.ask(dp);
            let good = answers
                .iter()
                .all(|(s, _)| s.status == "SUCCESSFUL" && s.cert_status == "GOOD");
            let (ok, out) = ocsp_verify(&dp.work_dir(), &answers[0].1, &self.files, "sha1");
            (good && ok && out.contains(": good")).then_some(answers[0].0.next_update)
        })
    }
}

fn call(cp: &ControlPlane, method: &str, path: &str, body: Value) -> Value {
    let (status, v) = cp.api(method, path, Some(&body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

/// A host, a group holding it, and a user with one key for that group (Keyper's API).
fn ssh_user(cp: &ControlPlane, dir: &Path) -> String {
    call(cp, "POST", "/api/hosts", json!({"cn": HOST}));
    call(
        cp,
        "POST",
        "/api/groups",
        json!({"cn": "away", "members": [format!("cn={HOST},ou=Hosts,dc=sigil,dc=local")]}),
    );
    let (_, public) = keygen(dir, "awaykey");
    call(
        cp,
        "POST",
        "/api/users",
        json!({
            "cn": USER, "userPassword": "correct horse battery",
            "confirmPassword": "correct horse battery", "givenName": USER, "sn": "E2E",
            "memberOfs": ["cn=away,ou=groups,dc=sigil,dc=local"],
            "sshPublicKeys": [{"name": "k", "key": public,
                "hostGroups": ["cn=away,ou=groups,dc=sigil,dc=local"]}],
        }),
    );
    public
}

/// The key service and SSH lookups still answer as before.
fn assert_kes_and_ssh(dp: &DataPlane, kes: &KesClient, decrypt: &str, plaintext: &str, key: &str) {
    let d = kes.call("PUT", "/v1/key/decrypt/away-key", Some(decrypt));
    assert_eq!(
        d.code(),
        200,
        "decrypt: {}",
        String::from_utf8_lossy(&d.body)
    );
    assert_eq!(d.json()["plaintext"], plaintext);
    let path = format!("/api/authkeys?username={USER}&host={HOST}");
    let r = dp.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    let key_body = key.split_whitespace().nth(1).unwrap();
    assert!(r.text().contains(key_body), "GET {path}: {}", r.text());
}

fn crl(dp: &DataPlane, issuer: &str) -> Vec<u8> {
    let r = dp.get(&format!("/crl/{issuer}.crl"));
    assert_eq!(r.status, 200, "CRL: {}", r.head);
    r.body
}

fn reasons(ready: &Value) -> String {
    ready["degraded_reasons"].to_string()
}

#[test]
fn control_plane_away_past_next_update() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let tls = TlsFiles::generate(&dir.join("tls"));
    let kek = random_key_b64();
    let kek_file = write_kek(dir, &kek);
    let admin = KesIdentity::generate(dir, "admin");
    let cp_toml = format!(
        "[ocsp]\ntest_validity_secs = {VALIDITY}\nrefresh_interval_secs = 1\n\
         [crl]\ntest_validity_secs = {VALIDITY}\n"
    );
    let mut cp = ControlPlane::start_with(Some(&cp_toml), &[("SIGIL_KES_KEK", kek.as_str())], true);
    let proxy = TcpProxy::start(cp.port());
    let kes_port = free_port();
    let dp_toml = format!(
        "{}[metrics]\ndegraded_window_secs = {WINDOW}\n",
        dp_section(kes_port, &tls, &admin.identity, &kek_file)
    );
    let dp = DataPlane::start_with_config(&proxy.url(), Some(&dp_toml));
    let kes = KesClient {
        dir: dir.to_path_buf(),
        ca: tls.ca.clone(),
        port: kes_port,
        who: Some(admin),
    };
    let issuer = cp.demo_issuer_id();

    // Data of every kind, served by the data plane while the control plane is up.
    let probe = Probe::new(&cp, &dp.work_dir());
    let key = ssh_user(&cp, dir);
    let created = kes.call("POST", "/v1/key/create/away-key", None);
    assert_eq!(
        created.code(),
        200,
        "create: {}",
        String::from_utf8_lossy(&created.body)
    );
    let g = kes.call(
        "POST",
        "/v1/key/generate/away-key",
        Some(r#"{"context":""}"#),
    );
    assert_eq!(
        g.code(),
        200,
        "generate: {}",
        String::from_utf8_lossy(&g.body)
    );
    let (plaintext, ciphertext) = (
        g.json()["plaintext"].clone(),
        g.json()["ciphertext"].clone(),
    );
    let plaintext = plaintext.as_str().unwrap().to_string();
    let decrypt = format!(r#"{{"ciphertext":{ciphertext},"context":""}}"#);
    probe.wait_good(&dp, Duration::from_secs(20));
    assert_kes_and_ssh(&dp, &kes, &decrypt, &plaintext, &key);
    let (this, next) = crl_times(&crl(&dp, &issuer));
    assert_eq!(next - this, VALIDITY as i64, "the CRL's validity");
    let ready = wait_for(Duration::from_secs(20), "ready and not degraded", || {
        let (status, body) = dp.ready();
        (status == 200 && body["degraded"] == false).then_some(body)
    });
    println!("control plane up: {ready}");
    assert_eq!(dp.metric("sigil_dp_degraded"), 0.0);
    assert_eq!(dp.metric("sigil_dp_crls_stale"), 0.0);

    // Away: killed, and kept away past every nextUpdate.
    cp.kill9();
    let down = Instant::now();
    wait_for(Duration::from_secs(10), "the stream to drop", || {
        (dp.metric("sigil_dp_replication_connected") == 0.0).then_some(())
    });
    let last_crl = crl(&dp, &issuer);
    let (_, crl_next) = crl_times(&last_crl);
    let mut served_good = 0;
    let try_later_at = wait_for(
        Duration::from_secs(VALIDITY + 15),
        "OCSP tryLater on every form",
        || {
            let answers = probe.ask(&dp);
            served_good += answers
                .iter()
                .filter(|(s, _)| s.status == "SUCCESSFUL")
                .count();
            sleep(Duration::from_millis(200));
            answers
                .iter()
                .all(|(s, _)| s.status == "TRY_LATER")
                .then(|| down.elapsed())
        },
    );
    println!(
        "control plane away: {served_good} good answers before their nextUpdate, tryLater on \
         every form after {try_later_at:?}"
    );
    // Never a stale response from then on (`ask` checks every successful answer too).
    for _ in 0..5 {
        for (seen, _) in probe.ask(&dp) {
            assert_eq!(seen.status, "TRY_LATER", "{seen:?}");
        }
        sleep(Duration::from_millis(200));
    }
    // The CRL: past its nextUpdate, still served, the same bytes.
    wait_for(
        Duration::from_secs(VALIDITY + 5),
        "the CRL's nextUpdate",
        || (now() > crl_next).then_some(()),
    );
    assert_eq!(crl(&dp, &issuer), last_crl, "the CRL served while away");
    let stale = dp.metric("sigil_dp_crls_stale");
    assert!(stale >= 1.0, "sigil_dp_crls_stale = {stale}");
    assert!(dp.metric("sigil_dp_crl_stale_seconds") >= 1.0);
    assert!(dp.metric("sigil_dp_ocsp_responses_total{status=\"try_later\"}") >= 3.0);
    assert!(dp.metric("sigil_dp_replication_unreachable_seconds") >= 1.0);
    assert_eq!(dp.metric("sigil_dp_degraded"), 1.0);
    // The key service and SSH lookups work from the replica.
    assert_kes_and_ssh(&dp, &kes, &decrypt, &plaintext, &key);
    let (status, ready) = dp.ready();
    println!("control plane away {:?}: {ready}", down.elapsed());
    assert_eq!(status, 200, "ready while away: {ready}");
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["degraded"], true, "{ready}");
    for why in [
        "control plane unreachable",
        "CRLs past nextUpdate",
        "OCSP answered tryLater",
    ] {
        assert!(reasons(&ready).contains(why), "no {why:?} in {ready}");
    }

    // Back: fresh responses and a fresh CRL flow again, and degraded clears.
    cp.resume();
    proxy.set_target(cp.port());
    let back = Instant::now();
    let next_update = probe.wait_good(&dp, Duration::from_secs(30));
    assert!(next_update > now(), "fresh after restart");
    let fresh_crl = wait_for(Duration::from_secs(30), "a fresh CRL", || {
        let c = crl(&dp, &issuer);
        (c != last_crl && crl_times(&c).1 > now()).then_some(c)
    });
    assert!(crl_times(&fresh_crl).0 >= crl_times(&last_crl).1 - VALIDITY as i64);
    let ready = wait_for(
        Duration::from_secs(WINDOW + 15),
        "degraded to clear",
        || {
            let (status, body) = dp.ready();
            assert_eq!(status, 200, "{body}");
            (body["degraded"] == false).then_some(body)
        },
    );
    println!(
        "control plane back, degraded cleared after {:?}: {ready}",
        back.elapsed()
    );
    assert_eq!(dp.metric("sigil_dp_degraded"), 0.0);
    assert_eq!(dp.metric("sigil_dp_crls_stale"), 0.0);
    assert_eq!(dp.metric("sigil_dp_replication_unreachable_seconds"), 0.0);
    assert_kes_and_ssh(&dp, &kes, &decrypt, &plaintext, &key);
}
