//! HTTP/1.1 conformance of `sigil-dp`'s key service listener (mutual TLS, issue 19 item 3):
//! a chunked request body (curl) decrypts like a `Content-Length` one, and the server's own
//! refusals — request-smuggling framing (400), a chunked body over the limit (413) — come in
//! KES's JSON error shape, the connection closed after them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use sigil_tests::dp::DataPlane;
use sigil_tests::kes::{dp_section, random_key_b64, write_kek, KesIdentity};
use sigil_tests::pki::base64_encode;
use sigil_tests::tls::{curl, TlsFiles};
use sigil_tests::{free_port, ControlPlane};

const CONFIG: &str = "[http]\nidle_timeout_secs = 2\nrequest_timeout_secs = 1\n";

/// Raw bytes over TLS with a client certificate (`openssl s_client` as a pipe): what the
/// server sent until it closed.
fn tls_raw(port: u16, ca: &Path, id: &KesIdentity, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .arg("-cert")
        .arg(&id.cert)
        .arg("-key")
        .arg(&id.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    drop(stdin);
    let out = child.wait_with_output().expect("s_client output");
    out.stdout
}

#[test]
fn kes_listener_chunked_bodies_and_json_refusals() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let tls = TlsFiles::generate(&dir.join("tls"));
    let kek = random_key_b64();
    let kek_file = write_kek(dir, &kek);
    let admin = KesIdentity::generate(dir, "admin");
    let cp = ControlPlane::start_with(None, &[("SIGIL_KES_KEK", kek.as_str())], true);
    let kes_port = free_port();
    let toml = format!(
        "{CONFIG}{}",
        dp_section(kes_port, &tls, &admin.identity, &kek_file)
    );
    let mut dp = DataPlane::start_with_config(&cp.base_url(), Some(&toml));
    let url = |p: &str| format!("https://127.0.0.1:{kes_port}{p}");
    let who = [
        "--cert",
        admin.cert.to_str().unwrap(),
        "--key",
        admin.key.to_str().unwrap(),
    ];
    let call = |method: &str, path: &str, extra: &[&str]| {
        let mut args = vec!["-X", method];
        args.extend(who);
        args.extend(extra);
        curl(dir, &tls.ca, &url(path), &args)
    };

    // A key, then a ciphertext made with a Content-Length body.
    let created = call("POST", "/v1/key/create/chunky", &[]);
    assert_eq!(
        created.code(),
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let plaintext = base64_encode(b"chunked bodies reach the key service");
    let body = format!("{{\"plaintext\":\"{plaintext}\"}}");
    let enc = call("POST", "/v1/key/encrypt/chunky", &["--data-binary", &body]);
    assert_eq!(enc.code(), 200, "{}", String::from_utf8_lossy(&enc.body));
    let ciphertext = enc.json()["ciphertext"]
        .as_str()
        .expect("ciphertext")
        .to_string();

    // curl sends the decryption request chunked; the answer is the plaintext.
    let body = format!("{{\"ciphertext\":\"{ciphertext}\"}}");
    let dec = call(
        "POST",
        "/v1/key/decrypt/chunky",
        &["-H", "Transfer-Encoding: chunked", "--data-binary", &body],
    );
    assert_eq!(dec.code(), 200, "{}", String::from_utf8_lossy(&dec.body));
    assert_eq!(dec.json()["plaintext"], plaintext.as_str());

    // Refusals in KES's error shape: smuggling framing 400, a too large chunked body 413.
    let both = b"POST /v1/key/decrypt/chunky HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                 Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let too_large = b"POST /v1/key/decrypt/chunky HTTP/1.1\r\nHost: x\r\n\
                      Transfer-Encoding: chunked\r\n\r\n100001\r\n";
    for (what, raw, status, message) in [
        ("CL+TE", &both[..], 400, "bad request"),
        ("too large", &too_large[..], 413, "content too large"),
    ] {
        let out = tls_raw(kes_port, &tls.ca, &admin, raw);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {text}"
        );
        assert!(
            text.contains("Content-Type: application/json"),
            "{what}: {text}"
        );
        assert!(text.contains("Connection: close"), "{what}: {text}");
        assert!(
            text.ends_with(&format!("{{\"message\":\"{message}\"}}\n")),
            "{what}: {text}"
        );
    }
    dp.assert_alive();
}
