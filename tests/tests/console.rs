//! The web console in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (tests/console/, pinned in its package-lock.json, installed by `npm ci`)
//! against a real `sigil-cp`, with a `sigil-dp` following it. The browser signs in, issues
//! from a CSR, revokes with a confirmation, creates an OTP, verifies the audit chain, and is
//! refused what it must be (a viewer's revocation, a POST without the CSRF token, pages when
//! signed out). Then openssl asks the data plane about the certificate the browser revoked,
//! the OTP it created enrolls a device over EST (once), the audit log must name the console's
//! actor, and the sign-in form must be rate limited like the API. Screenshots go to `SIGIL_CONSOLE_SCREENSHOTS` (docs/console/ when refreshing
//! the committed ones), else into the test's work directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sigil_tests::dp::{openssl_ocsp_url, wait_for, DataPlane};
use sigil_tests::est::EstServer;
use sigil_tests::tools::require;
use sigil_tests::{gen_csr, write_file, ControlPlane, Issued, ADMIN_TOKEN};

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// `npm ci` into tests/console/node_modules when it is missing or older than the lock file.
fn npm_ci(npm: &Path) {
    let dir = console_dir();
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&installed).is_some() && modified(&installed) >= modified(&lock) {
        return;
    }
    let out = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("spawn npm ci");
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `POST /ui/login` with a fresh login token and a wrong secret: the status.
fn failed_sign_in(client: &reqwest::blocking::Client, cp: &ControlPlane) -> u16 {
    let page = client
        .get(cp.url("/ui/login"))
        .send()
        .expect("GET /ui/login");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sigil_login="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string);
    let html = page.text().expect("login page");
    let field = r#"name="csrf" value=""#;
    let Some((cookie, at)) = cookie.zip(html.find(field)) else {
        return 0; // refused before the form (429 on the page itself is not expected)
    };
    let rest = &html[at + field.len()..];
    let token = &rest[..rest.find('"').expect("end of the csrf value")];
    client
        .post(cp.url("/ui/login"))
        .header("cookie", cookie)
        .form(&[("csrf", token), ("secret", "not-the-admin-token")])
        .send()
        .expect("POST /ui/login")
        .status()
        .as_u16()
}

#[test]
fn the_console_in_chromium() {
    let (Some(node), Some(npm), Some(chromium)) = (
        require(
            &["node"],
            "install Debian's `nodejs` (scripts/setup-debian.sh)",
        ),
        require(&["npm"], "install Debian's `npm` (scripts/setup-debian.sh)"),
        require(
            &["/usr/bin/chromium", "chromium"],
            "install Debian's `chromium` (scripts/setup-debian.sh)",
        ),
    ) else {
        return;
    };
    npm_ci(&npm);
    // The public listener (EST) is on too, to use the OTP the browser creates.
    // The dashboard reads the data plane's /metrics by name ([[admin.console.data_planes]]).
    let dp_metrics = sigil_tests::free_port();
    let est = EstServer::start(&format!(
        "[admin.auth_limit]\nfailures_per_source = 3\nrefill_secs = 2\n\
         [[admin.console.data_planes]]\nname = \"dp-loopback\"\n\
         metrics_url = \"http://127.0.0.1:{dp_metrics}/metrics\"\n"
    ));
    let cp = &est.cp;
    let dp = DataPlane::start_with_metrics_port(&cp.base_url(), dp_metrics);
    let work = cp.work_dir();
    // Something to show: a few certificates, one of them revoked, and a viewer's API key.
    let issuer = cp.demo_issuer_id();
    for cn in ["www.example.com", "api.example.com", "mail.example.org"] {
        cp.issue_new(&issuer, cn);
    }
    let old = cp.issue_new(&issuer, "old.example.com");
    assert_eq!(cp.revoke(&old.id, "superseded").0, 200);
    let (status, key) = cp.api(
        "POST",
        "/api/v1/apikeys",
        Some(&json!({"name": "console viewer", "role": "viewer"})),
    );
    assert_eq!(status, 201, "{key}");
    let key = key["data"].clone();
    let csr_pem = gen_csr(&work, "console.example.com", &["console.example.com"]);
    // For the SSH page: a host group, and a key of the browser's user.
    let (status, v) = cp.api(
        "POST",
        "/api/groups",
        Some(&json!({"cn": "web", "description": "web servers"})),
    );
    assert_eq!(status, 201, "{v}");
    let (_, ssh_public_key) = sigil_tests::sshd::keygen(&work, "console-user-key");
    let kes_identity = "5e".repeat(32);
    let screenshots = std::env::var_os("SIGIL_CONSOLE_SCREENSHOTS")
        .map_or_else(|| work.join("screenshots"), PathBuf::from);
    let input = work.join("console-input.json");
    let result = work.join("console-result.json");
    write_file(
        &input,
        json!({
            "admin_token": ADMIN_TOKEN,
            "viewer_key": key["key"],
            "csr_pem": csr_pem,
            "kes_identity": kes_identity,
            "ssh_public_key": ssh_public_key,
            "screenshots": screenshots,
            "result": result,
        })
        .to_string(),
    );

    let out = Command::new(&node)
        .arg(console_dir().join("console.spec.mjs"))
        .arg(cp.base_url())
        .arg(&input)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .expect("spawn node");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}\ncontrol plane log:\n{}",
        out.status,
        cp.logs()
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&result).expect("result")).unwrap();
    let cert_id = result["cert_id"].as_str().expect("cert_id").to_string();
    assert_eq!(result["screenshots"].as_array().map(Vec::len), Some(16));

    // The certificate the browser issued and revoked: revoked on the data plane.
    let (status, v) = cp.api("GET", &format!("/api/v1/certificates/{cert_id}"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["revocation_reason"].as_str()),
        (Some("revoked"), Some("keyCompromise"))
    );
    let files = Issued::from_json(v).write(&work, "console");
    let url = dp.url("/");
    let mut last = String::new();
    wait_for(
        Duration::from_secs(10),
        "the data plane to answer revoked",
        || {
            last = openssl_ocsp_url(&url, &files);
            last.contains(": revoked").then_some(())
        },
    );
    assert!(last.contains("Response verify OK"), "{last}");
    assert!(last.contains("Reason: keyCompromise"), "{last}");

    // What the browser did on the CAs, key service, SSH and API keys pages, through the API.
    let (status, v) = cp.api("GET", "/api/v1/issuers/browser-root", None);
    assert_eq!(status, 200, "{v}");
    assert!(v.to_string().contains("CN=Browser Root"), "{v}");
    let (status, v) = cp.api("GET", "/api/v1/kes/keys/console-key", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(2), "{v}");
    let (status, v) = cp.api(
        "GET",
        &format!("/api/v1/kes/identities/{kes_identity}"),
        None,
    );
    assert_eq!(
        (status, v["policy"].as_str()),
        (200, Some("console-app")),
        "{v}"
    );
    let (status, v) = cp.api("GET", "/api/users/console-user", None);
    assert_eq!(status, 200, "{v}");
    // Stored as type and key, without the comment.
    let stored = v[0]["sshPublicKeys"][0]["key"].as_str().unwrap_or_default();
    assert!(
        ssh_public_key.starts_with(stored) && !stored.is_empty(),
        "{v}"
    );

    // The browser's bulk revocation: mail.example.org revoked (cessationOfOperation).
    let (status, v) = cp.api("GET", "/api/v1/certificates?search=mail.example.org", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"][0]["status"], "revoked", "{v}");

    // The OTP the browser created enrolls device-1 over EST, once.
    let otp = result["otp_secret"].as_str().expect("otp_secret");
    let (_, csr) = est.csr("device-1", None);
    let user = format!("device-1:{otp}");
    // (The demo CA by its label: with the browser's root there is no single default CA.)
    let enrolled = est.post("demo/simpleenroll", &csr, &["-u", &user]);
    assert_eq!(enrolled.code(), 200, "{}", enrolled.stderr);
    assert_eq!(
        est.post("demo/simpleenroll", &csr, &["-u", &user]).code(),
        401
    );

    // The audit log names the console's actors.
    let actions = |action: &str| {
        let (status, v) = cp.api("GET", &format!("/api/v1/audit?action={action}"), None);
        assert_eq!(status, 200, "{v}");
        v["data"].as_array().cloned().unwrap_or_default()
    };
    let revoked = actions("certificate.revoke");
    assert!(
        revoked.iter().any(|r| r["resource_id"]
            .as_str()
            .is_some_and(|id| id.contains(&cert_id))
            && r["actor"] == "bearer:admin"),
        "{revoked:?}"
    );
    let viewer = format!("apikey:{}", key["id"].as_str().unwrap());
    assert!(actions("auth.denied")
        .iter()
        .any(|r| r["actor"] == viewer.as_str()));
    assert_eq!(actions("console.sign_in").len(), 2);
    assert_eq!(actions("otp.create").len(), 1);

    // Failed sign-ins are limited like the API's failed authentications: 3 here, then 429.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let statuses: Vec<u16> = (0..4).map(|_| failed_sign_in(&client, cp)).collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
    // The source is refused everywhere until a token comes back (refill_secs).
    std::thread::sleep(Duration::from_millis(2500));
    assert!(actions("auth.failure")
        .iter()
        .any(|r| r["resource_id"] == "/ui/login"));
    // The API key the browser revoked is refused (after the limiter's refill: a refusal
    // counts as a failed authentication).
    let revoked_key = result["revoked_api_key"].as_str().expect("revoked_api_key");
    let refused = cp.request("GET", "/api/v1/certificates", Some(revoked_key), None, None);
    assert_eq!(refused.status, 401, "a revoked API key is refused");
    drop(dp);
}

/// The value of `Set-Cookie: <name>=…` in `headers` and the whole line.
fn set_cookie(headers: &str, name: &str) -> Option<(String, String)> {
    headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string();
            (value, v)
        })
}

/// On an https admin listener the console's cookies are `Secure`, and a trusted client
/// certificate signs in (curl, no browser needed).
#[test]
fn on_tls_the_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let files = sigil_tests::tls::TlsFiles::generate(&dir.path().join("tls"));
    let cp = ControlPlane::start_tls("", &files);
    let page = cp.curl("/ui/login", &[]);
    assert_eq!(page.code(), 200, "{}", page.stderr);
    let (login, line) = set_cookie(&page.headers, "sigil_login").expect("a login cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(line.contains(attr), "{line}");
    }
    let csrf = format!("csrf={login}");
    let secret = format!("secret={ADMIN_TOKEN}");
    let cookie = format!("cookie: sigil_login={login}");
    let args = [
        "-H",
        cookie.as_str(),
        "--data-urlencode",
        csrf.as_str(),
        "--data-urlencode",
        secret.as_str(),
    ];
    let signed_in = cp.curl("/ui/login", &args);
    assert_eq!(signed_in.code(), 303, "{}", signed_in.headers);
    let (session, line) = set_cookie(&signed_in.headers, "sigil_session").expect("a session");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/ui"] {
        assert!(line.contains(attr), "{line}");
    }
    let cookie = format!("cookie: sigil_session={session}");
    let dashboard = cp.curl("/ui/", &["-H", cookie.as_str()]);
    assert_eq!(dashboard.code(), 200);
    assert!(String::from_utf8_lossy(&dashboard.body).contains("<h1>Dashboard</h1>"));
    assert!(dashboard
        .headers
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'self'"));

    // A client certificate under `[admin.tls] client_ca`: the sign-in page offers it, and
    // signing in with it makes an administrator `mtls:<subject>`.
    let (cert, key) = (
        files.client_cert.to_str().unwrap(),
        files.client_key.to_str().unwrap(),
    );
    let tls = ["--cert", cert, "--key", key];
    let page = cp.curl("/ui/login", &tls);
    let text = String::from_utf8_lossy(&page.body).to_string();
    assert!(text.contains("Sign in with this certificate"), "{text}");
    let (login, _) = set_cookie(&page.headers, "sigil_login").expect("a login cookie");
    let (csrf, cookie) = (
        format!("csrf={login}"),
        format!("cookie: sigil_login={login}"),
    );
    let mut args = tls.to_vec();
    args.extend([
        "-H",
        cookie.as_str(),
        "--data-urlencode",
        csrf.as_str(),
        "--data-urlencode",
        "method=certificate",
    ]);
    let signed_in = cp.curl("/ui/login", &args);
    assert_eq!(signed_in.code(), 303, "{}", signed_in.headers);
    let (session, _) = set_cookie(&signed_in.headers, "sigil_session").expect("a session");
    let cookie = format!("cookie: sigil_session={session}");
    let audit = cp.curl("/ui/audit?action=console.sign_in", &["-H", cookie.as_str()]);
    let text = String::from_utf8_lossy(&audit.body).to_string();
    assert_eq!(audit.code(), 200, "an administrator reads the audit log");
    assert!(text.contains("mtls:"), "{text}");
    // Without a certificate the same form is refused.
    let page = cp.curl("/ui/login", &[]);
    let (login, _) = set_cookie(&page.headers, "sigil_login").expect("a login cookie");
    let (csrf, cookie) = (
        format!("csrf={login}"),
        format!("cookie: sigil_login={login}"),
    );
    let refused = cp.curl(
        "/ui/login",
        &[
            "-H",
            cookie.as_str(),
            "--data-urlencode",
            csrf.as_str(),
            "--data-urlencode",
            "method=certificate",
        ],
    );
    assert_eq!(refused.code(), 401);
}
