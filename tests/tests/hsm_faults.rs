//! HSM faults heal without a restart: a real `sigil-cp` with CA keys in SoftHSM2 tokens, the
//! tokens broken underneath it (token directory moved away, user PIN changed, one replica's
//! token deleted) and repaired. Issuance and `/ready` must come back on their own within
//! seconds (the background prober), a healthy replica must keep serving throughout, and a
//! module a healthy replica uses must never be re-initialised under it. Build the binaries
//! first: `cargo build --workspace --bins`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sigil_tests::hsm::{SoftHsm, CONFIG, MODULE, PIN};
use sigil_tests::pki::gen_csr;
use sigil_tests::ControlPlane;

/// How long a repaired token may take to serve again: the prober's interval is capped at 4 s
/// (plus a re-initialisation, and a loaded test machine).
const HEAL_WITHIN: Duration = Duration::from_secs(12);

fn start(hsm: &SoftHsm, config: &str) -> ControlPlane {
    let env = hsm.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ControlPlane::start_with(Some(config), &env, false)
}

fn create_ca(cp: &ControlPlane, id: &str, key_store: Value) {
    let (status, body) = cp.api(
        "POST",
        "/api/v1/issuers",
        Some(&json!({
            "id": id,
            "name": id,
            "subject": format!("CN={id},O=Sigil HSM Faults"),
            "key_algorithm": "ecdsa-p256",
            "key_store": key_store,
        })),
    );
    assert_eq!(status, 201, "creating {id}: {body}\n{}", cp.logs());
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`: the value and when.
fn wait_for<T>(limit: Duration, what: &str, cp: &ControlPlane, f: impl Fn() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            cp.logs()
        );
        sleep(Duration::from_millis(100));
    }
}

fn ready(cp: &ControlPlane) -> (u16, Value) {
    let r = cp.request("GET", "/ready", None, None, None);
    (r.status, r.json())
}

fn issuer_health(cp: &ControlPlane, id: &str) -> Value {
    let (status, view) = cp.api("GET", &format!("/api/v1/issuers/{id}"), None);
    assert_eq!(status, 200, "{view}");
    view["health"].clone()
}

/// The control plane's log (stdout and stderr) without terminal colour sequences.
fn plain_log(cp: &ControlPlane) -> String {
    let log = std::fs::read_to_string(cp.path().join("stdout.log")).unwrap_or_default()
        + &std::fs::read_to_string(cp.path().join("stderr.log")).unwrap_or_default();
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines of the control plane's log containing every one of `parts`.
fn log_lines(cp: &ControlPlane, parts: &[&str]) -> usize {
    plain_log(cp)
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// Prints the control plane's PKCS#11 log lines (seen with `--nocapture`).
fn show_pkcs11_log(cp: &ControlPlane) {
    for l in plain_log(cp).lines().filter(|l| l.contains("PKCS#11")) {
        println!("{l}");
    }
}

/// Issues from `id` until it fails: the failure's (status, body).
fn issue_until_refused(cp: &ControlPlane, id: &str, csr: &str) -> (u16, Value) {
    wait_for(Duration::from_secs(10), "issuance failing", cp, || {
        let (status, body) = cp.issue_raw(id, csr);
        (status != 201).then_some((status, body))
    })
}

/// Waits until issuance from `id` and `/ready` both succeed: how long that took.
fn wait_until_healed(cp: &ControlPlane, id: &str, csr: &str) -> Duration {
    let start = Instant::now();
    wait_for(HEAL_WITHIN, "issuance and /ready back", cp, || {
        (cp.issue_raw(id, csr).0 == 201 && ready(cp).0 == 200).then_some(())
    });
    start.elapsed()
}

#[test]
fn a_token_directory_moved_away_and_back_heals_without_restart() {
    let hsm = SoftHsm::new(&["faults-moved"]);
    let cp = start(&hsm, CONFIG);
    create_ca(&cp, "hsm-moved", hsm.key_store("faults-moved", "moved-key"));
    let csr = gen_csr(&cp.work_dir(), "moved.example.com", &["moved.example.com"]);
    assert_eq!(cp.issue_raw("hsm-moved", &csr).0, 201);
    assert_eq!(ready(&cp).0, 200);

    let tokens = hsm.path().join("tokens");
    let away = hsm.path().join("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();
    // The API's answer while the key is away: 503 with a stable message (the reason is in the
    // log and in health).
    let (status, body) = issue_until_refused(&cp, "hsm-moved", &csr);
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["message"], "signing key unavailable; see the control plane's health and log",
        "{body}"
    );
    // Refused at once while the key is out of rotation, never waiting for a probe.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, again) = cp.issue_raw("hsm-moved", &csr);
        assert_eq!(status, 503, "{again}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a refusal waited"
        );
    }
    assert!(
        log_lines(
            &cp,
            &["signing backend unavailable", "no private key labelled"]
        ) >= 20,
        "the refusals' reason is not logged"
    );
    let (status, r) = ready(&cp);
    assert_eq!(status, 503, "{r}");
    let problems = r["problems"].to_string();
    assert!(problems.contains("CA hsm-moved"), "{r}");
    assert!(problems.contains("replica 1 of 1 down"), "{r}");
    let h = issuer_health(&cp, "hsm-moved");
    assert_eq!(h["status"], "unhealthy", "{h}");
    assert_eq!(h["replicas"][0]["state"], "down", "{h}");
    assert!(h["replicas"][0]["unavailable_since"].is_string(), "{h}");
    // Re-probed in the background meanwhile (after 0.5 s, 1.5 s, 3.5 s, ...), the third probe
    // re-initialising the module: C_Initialize fails while the token directory is away.
    let h = wait_for(
        Duration::from_secs(8),
        "a failed re-initialisation",
        &cp,
        || {
            let h = issuer_health(&cp, "hsm-moved");
            let error = h["replicas"][0]["error"].as_str().unwrap_or_default();
            (h["replicas"][0]["failed_probes"].as_u64() >= Some(3)
                && error.contains("C_Initialize"))
            .then_some(h)
        },
    );
    assert_eq!(h["status"], "unhealthy", "{h}");

    std::fs::rename(&away, &tokens).unwrap();
    let took = wait_until_healed(&cp, "hsm-moved", &csr);
    println!("token directory restored: issuing and ready again after {took:?}");
    show_pkcs11_log(&cp);
    let h = issuer_health(&cp, "hsm-moved");
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["replicas"][0]["state"], "up", "{h}");
    assert!(
        h["replicas"][0]["module_generation"].as_u64() > Some(1),
        "the module was re-initialised: {h}"
    );
    // Each change logged once per key (CA and responder), not per request or probe.
    let down = log_lines(&cp, &["out of rotation", "faults-moved"]);
    assert!((1..=2).contains(&down), "{down} 'out of rotation' lines");
    assert!(log_lines(&cp, &["available again", "faults-moved"]) >= 1);
    let metrics = cp.request("GET", "/metrics", None, None, None).text();
    let gauge =
        "sigil_cp_ca_replica_available{ca=\"hsm-moved\",replica=\"1\",token=\"faults-moved\"} 1";
    assert!(metrics.contains(gauge), "no {gauge} in\n{metrics}");
}

#[test]
fn a_refused_pin_heals_when_the_pin_is_changed_back() {
    const OTHER_PIN: &str = "e2e-changed-pin-3377";
    let hsm = SoftHsm::new(&["faults-pin"]);
    let mut cp = start(&hsm, CONFIG);
    create_ca(&cp, "hsm-pin", hsm.key_store("faults-pin", "pin-key"));
    let csr = gen_csr(&cp.work_dir(), "pin.example.com", &["pin.example.com"]);
    assert_eq!(cp.issue_raw("hsm-pin", &csr).0, 201);

    // A running control plane stays logged in whatever the PIN becomes; one that starts (or
    // must log in again) is refused.
    hsm.change_pin("faults-pin", PIN, OTHER_PIN);
    cp.restart();
    let (status, body) = cp.issue_raw("hsm-pin", &csr);
    assert_eq!(status, 503, "{body}");
    let (status, r) = ready(&cp);
    assert_eq!(status, 503, "{r}");
    assert!(r["message"].to_string().contains("C_Login"), "{r}");
    // Requests do not log in: login is retried at the probe interval.
    for _ in 0..10 {
        assert_eq!(cp.issue_raw("hsm-pin", &csr).0, 503);
    }

    hsm.change_pin("faults-pin", OTHER_PIN, PIN);
    let took = wait_until_healed(&cp, "hsm-pin", &csr);
    println!("PIN changed back: issuing and ready again after {took:?}");
    show_pkcs11_log(&cp);
    assert_eq!(log_lines(&cp, &["login refused;", "faults-pin"]), 1);
    // Refusals before the PIN came back: the start-up probe and the background probes (at
    // 0.5 s, 1.5 s, 3.5 s, ...), whatever the number of requests or keys on the token.
    let refused = plain_log(&cp)
        .lines()
        .find(|l| l.contains("login accepted again"))
        .and_then(|l| l.split("refused=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
        .expect("refusals in the log");
    assert!(
        (1..=5).contains(&refused),
        "{refused} login attempts refused"
    );
    let logs = cp.logs();
    assert!(
        !logs.contains(PIN) && !logs.contains(OTHER_PIN),
        "a PIN in the logs"
    );
}

/// Issues from `id` on a thread until `stop`: (issued, refused with their bodies).
fn issue_continuously(
    cp: &ControlPlane,
    id: &str,
    csr: &str,
    stop: &AtomicBool,
    issued: &AtomicUsize,
) -> Vec<String> {
    let mut refused = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let (status, body) = cp.issue_raw(id, csr);
        if status == 201 {
            issued.fetch_add(1, Ordering::Relaxed);
        } else {
            refused.push(format!("{status} {body}"));
        }
        sleep(Duration::from_millis(20));
    }
    refused
}

/// Stops the issuing thread when dropped, also when an assertion fails (the scope would
/// wait for it forever otherwise).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn replica_signatures(h: &Value, i: usize) -> u64 {
    h["replicas"][i]["signatures_total"].as_u64().unwrap_or(0)
}

/// Two tokens with the same key; `second_module` is the library the second replica is
/// opened with. Returns the control plane and the CA id.
fn replicated_ca(hsm: &SoftHsm, second_module: &str) -> (ControlPlane, &'static str) {
    let config = format!(
        "[hsm]\nallowed_modules = [{MODULE:?}, {second_module:?}]\n[ocsp]\nsigner = \"ca\"\n"
    );
    let cp = start(hsm, &config);
    for token in ["faults-r1", "faults-r2"] {
        hsm.import_ec_key(&cp.work_dir(), token, "replicated-key");
    }
    let mut ks = hsm.key_store("faults-r1", "replicated-key");
    ks["replicas"] = json!([{ "module": second_module, "token_label": "faults-r2" }]);
    create_ca(&cp, "hsm-replicated", ks);
    (cp, "hsm-replicated")
}

#[test]
fn a_deleted_replica_token_is_used_again_once_restored() {
    let hsm = SoftHsm::new(&["faults-r1", "faults-r2"]);
    // The second replica in a library of its own (another HSM's module): a copy of SoftHSM
    // loads as a separate instance, with its own C_Initialize state.
    let second = hsm.path().join("libsofthsm2-second.so");
    std::fs::copy(MODULE, &second).unwrap();
    let (cp, id) = replicated_ca(&hsm, second.to_str().unwrap());
    let csr = gen_csr(
        &cp.work_dir(),
        "replicated.example.com",
        &["replicated.example.com"],
    );
    assert_eq!(cp.issue_raw(id, &csr).0, 201);
    let before = issuer_health(&cp, id);
    assert_eq!(before["replicas"][0]["state"], "up", "{before}");

    let dir = hsm.token_dir("faults-r1");
    let copy = hsm.path().join("faults-r1.copy");
    hsm.copy_dir(&dir, &copy);
    let stop = AtomicBool::new(false);
    let issued = AtomicUsize::new(0);
    let refused = std::thread::scope(|s| {
        let worker = s.spawn(|| issue_continuously(&cp, id, &csr, &stop, &issued));
        let _stop = StopOnDrop(&stop);
        wait_for(Duration::from_secs(5), "issuing", &cp, || {
            (issued.load(Ordering::Relaxed) >= 3).then_some(())
        });
        hsm.delete_token_dir(&dir);
        let h = wait_for(Duration::from_secs(10), "replica 1 down", &cp, || {
            let h = issuer_health(&cp, id);
            (h["replicas"][0]["state"] == "down").then_some(h)
        });
        assert_eq!(h["status"], "degraded", "{h}");
        let error = h["error"].as_str().unwrap_or_default();
        assert!(error.contains("replica 1 of 2 down"), "{h}");
        assert!(error.contains("1 of 2 replicas available"), "{h}");
        // In rotation ("unknown" until the request that found the first one down has been
        // answered by it).
        assert_eq!(h["replicas"][1]["available"], true, "{h}");
        // The second replica serves meanwhile.
        let served = replica_signatures(&h, 1);
        wait_for(
            Duration::from_secs(5),
            "the second replica signing",
            &cp,
            || (replica_signatures(&issuer_health(&cp, id), 1) > served + 2).then_some(()),
        );
        let metrics = cp.request("GET", "/metrics", None, None, None).text();
        let gauge = format!(
            "sigil_cp_ca_replica_available{{ca=\"{id}\",replica=\"1\",token=\"faults-r1\"}} 0"
        );
        assert!(metrics.contains(&gauge), "no {gauge} in\n{metrics}");

        // Restored from the copy: back in rotation, and signing first again.
        hsm.copy_dir(&copy, &dir);
        let restored = Instant::now();
        let h = wait_for(HEAL_WITHIN, "replica 1 back", &cp, || {
            let h = issuer_health(&cp, id);
            (h["replicas"][0]["state"] == "up").then_some(h)
        });
        println!(
            "replica token restored: back in rotation after {:?}",
            restored.elapsed()
        );
        let first = replica_signatures(&h, 0);
        wait_for(
            Duration::from_secs(5),
            "the first replica signing again",
            &cp,
            || (replica_signatures(&issuer_health(&cp, id), 0) > first + 2).then_some(()),
        );
        assert_eq!(issuer_health(&cp, id)["status"], "healthy");
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap()
    });
    let after = issuer_health(&cp, id);
    show_pkcs11_log(&cp);
    println!(
        "{} certificates issued while a replica was deleted and restored; refused: {refused:?}",
        issued.load(Ordering::Relaxed)
    );
    assert!(refused.is_empty(), "failed requests: {refused:?}");
    // The first replica's library was re-initialised to see the restored token; the second
    // replica's library was loaded once (when it first served) and never re-initialised.
    assert_eq!(after["replicas"][1]["module_generation"], 1, "{after}");
    assert!(
        after["replicas"][0]["module_generation"].as_u64()
            > before["replicas"][0]["module_generation"].as_u64(),
        "{after}"
    );
}

#[test]
fn a_module_shared_with_a_healthy_replica_is_not_reinitialised_under_it() {
    let hsm = SoftHsm::new(&["faults-r1", "faults-r2"]);
    let (cp, id) = replicated_ca(&hsm, MODULE);
    let csr = gen_csr(
        &cp.work_dir(),
        "shared.example.com",
        &["shared.example.com"],
    );
    assert_eq!(cp.issue_raw(id, &csr).0, 201);
    let generation = issuer_health(&cp, id)["replicas"][0]["module_generation"].clone();

    let stop = AtomicBool::new(false);
    let issued = AtomicUsize::new(0);
    let refused = std::thread::scope(|s| {
        let worker = s.spawn(|| issue_continuously(&cp, id, &csr, &stop, &issued));
        let _stop = StopOnDrop(&stop);
        hsm.delete_token_dir(&hsm.token_dir("faults-r1"));
        // Past the point where a probe would re-initialise the module (3.5 s after going
        // down): it does not, since the other token of the module works.
        let h = wait_for(
            Duration::from_secs(15),
            "re-initialisation declined",
            &cp,
            || {
                let h = issuer_health(&cp, id);
                let error = h["replicas"][0]["error"].as_str().unwrap_or_default();
                let declined = h["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("module not re-initialised"));
                (declined && !error.is_empty()).then_some(h)
            },
        );
        let error = h["error"].as_str().unwrap();
        assert!(error.contains("faults-r2"), "{h}");
        assert_eq!(h["status"], "degraded", "{h}");
        assert_eq!(h["replicas"][1]["state"], "up", "{h}");
        sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap()
    });
    let h = issuer_health(&cp, id);
    show_pkcs11_log(&cp);
    println!(
        "{} certificates issued beside the deleted replica; refused: {refused:?}",
        issued.load(Ordering::Relaxed)
    );
    assert!(refused.is_empty(), "failed requests: {refused:?}");
    assert_eq!(h["replicas"][0]["module_generation"], generation, "{h}");
    assert!(replica_signatures(&h, 1) > 0, "{h}");
}
