//! Tests of the PKCS#12 writer: its bundles opened by `openssl pkcs12`, Python `cryptography`
//! and Java's keytool.

use std::path::Path;
use std::process::Command;

use super::*;

/// A CA ("CN=ca") and a leaf ("CN=leaf") it issued, with the leaf's PKCS#8 key, made by the
/// openssl CLI in a temporary directory; None (and a note) without openssl.
struct Fixture {
    dir: tempfile::TempDir,
    leaf: Vec<u8>,
    ca: Vec<u8>,
    key: Vec<u8>,
    key_pem: String,
}

/// Runs `openssl` with the whitespace-separated `args` in `dir`; its stdout.
fn openssl(dir: &Path, args: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("run openssl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args}: {err}");
    out.stdout
}

fn fixture() -> Option<Fixture> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not on PATH");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    openssl(
        d,
        &format!("req -x509 {ec} -keyout ca.key -out ca.pem -subj /CN=ca -days 1"),
    );
    openssl(
        d,
        &format!("req -new {ec} -keyout leaf.key -out leaf.csr -subj /CN=leaf"),
    );
    let sign = "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 1";
    let leaf = openssl(d, &format!("{sign} -outform DER"));
    // `pkey -outform DER` would write the SEC1 ECPrivateKey; `pkcs8 -topk8` writes PKCS#8.
    let key = openssl(d, "pkcs8 -topk8 -nocrypt -in leaf.key -outform DER");
    Some(Fixture {
        leaf,
        ca: openssl(d, "x509 -in ca.pem -outform DER"),
        key,
        key_pem: std::fs::read_to_string(d.join("leaf.key")).unwrap(),
        dir,
    })
}

/// `openssl pkcs12 -info -nodes` on the bundle: (exit status, stdout, stderr).
fn dump(fx: &Fixture, p12: &[u8], password: &str) -> (bool, String, String) {
    std::fs::write(fx.dir.path().join("f.p12"), p12).unwrap();
    let pass = format!("pass:{password}");
    let out = Command::new("openssl")
        .args([
            "pkcs12", "-in", "f.p12", "-passin", &pass, "-info", "-nodes",
        ])
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Python `cryptography`'s reading of the bundle, one line: key present, key matches the
/// certificate, certificate subject, additional certificates, friendly names. None (and a
/// note) when the module is missing.
fn python(fx: &Fixture, p12: &[u8], password: &str) -> Option<Result<String, String>> {
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with the cryptography module is not available");
        return None;
    }
    std::fs::write(fx.dir.path().join("py.p12"), p12).unwrap();
    const SCRIPT: &str = r#"
import os, sys
from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PublicFormat
data, pw = open("py.p12", "rb").read(), os.environ["P12PASS"].encode()
key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
p = pkcs12.load_pkcs12(data, pw)
spki = lambda k: k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
names = [c.friendly_name for c in ([p.cert] if p.cert else []) + p.additional_certs]
print(key is not None, key is not None and spki(key.public_key()) == spki(cert.public_key()),
  cert.subject.rfc4514_string() if cert else None, len(extra), names)
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("P12PASS", password)
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    Some(match out.status.success() {
        true => Ok(text(&out.stdout)),
        false => Err(text(&out.stderr)),
    })
}

/// Java keytool's listing of the bundle: (exit status, output). None (and a note) without
/// keytool.
fn keytool(fx: &Fixture, p12: &[u8], password: &str) -> Option<(bool, String)> {
    if Command::new("keytool").arg("-help").output().is_err() {
        eprintln!("skipped: keytool is not on PATH");
        return None;
    }
    std::fs::write(fx.dir.path().join("java.p12"), p12).unwrap();
    let args = "-list -v -storetype PKCS12 -keystore java.p12 -storepass:env P12PASS";
    let out = Command::new("keytool")
        .args(args.split_whitespace())
        .env("P12PASS", password)
        .env("LC_ALL", "C.UTF-8")
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text.into_owned()))
}

fn bundle(fx: &Fixture, key: bool, password: &str) -> Vec<u8> {
    let certs = [fx.leaf.clone(), fx.ca.clone()];
    let contents = Pkcs12Contents {
        certs: &certs,
        key_pkcs8: key.then_some(fx.key.as_slice()),
        friendly_name: Some("sigil-leaf"),
    };
    encode(&contents, password).unwrap()
}

/// Key and both certificates come out of OpenSSL and Python with `password`.
fn assert_opens(fx: &Fixture, password: &str) {
    let p12 = bundle(fx, true, password);
    let (ok, out, info) = dump(fx, &p12, password);
    assert!(ok, "openssl pkcs12 failed: {info}");
    assert_eq!(
        out.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{out}"
    );
    assert!(out.contains("subject=CN = leaf") && out.contains("subject=CN = ca"));
    assert!(out.contains(fx.key_pem.trim()), "key differs: {out}");
    assert_eq!(out.matches("localKeyID:").count(), 2, "{out}");
    assert_eq!(out.matches("friendlyName: sigil-leaf").count(), 2, "{out}");
    assert!(info.contains("MAC: sha256, Iteration 10000"), "{info}");
    assert!(info.contains("MAC length: 32, salt length: 16"), "{info}");
    assert_eq!(
        info.matches("PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256")
            .count(),
        2,
        "{info}"
    );
    assert!(info.contains("Shrouded Keybag"), "{info}");
    if let Some(read) = python(fx, &p12, password) {
        let names = "[b'sigil-leaf', None]";
        assert_eq!(read, Ok(format!("True True CN=leaf 1 {names}")));
    }
    // Java's PBES2 (com.sun.crypto.provider.PBEKey) refuses non-ASCII passwords ("Password
    // is not ASCII"), for OpenSSL's bundles as well: nothing a writer can change.
    if let Some((ok, out)) = keytool(fx, &p12, password).filter(|_| password.is_ascii()) {
        assert!(ok, "keytool failed: {out}");
        assert!(out.contains("Your keystore contains 1 entry"), "{out}");
        assert!(out.contains("Alias name: sigil-leaf"), "{out}");
        assert!(out.contains("Entry type: PrivateKeyEntry"), "{out}");
        assert!(out.contains("Certificate chain length: 2"), "{out}");
    }
}

#[test]
fn openssl_and_python_open_the_bundle() {
    let Some(fx) = fixture() else { return };
    assert_opens(&fx, "secret");
}

#[test]
fn empty_password_opens() {
    let Some(fx) = fixture() else { return };
    assert_opens(&fx, "");
}

#[test]
fn non_ascii_password_opens() {
    let Some(fx) = fixture() else { return };
    assert_opens(&fx, "pässwörd");
}

#[test]
fn wrong_password_fails() {
    let Some(fx) = fixture() else { return };
    let p12 = bundle(&fx, true, "secret");
    for wrong in ["Secret", "", "pässwörd"] {
        let (ok, out, _) = dump(&fx, &p12, wrong);
        assert!(!ok && !out.contains("PRIVATE KEY"), "{wrong:?} opened it");
        if let Some(read) = python(&fx, &p12, wrong) {
            assert!(read.is_err(), "python opened it with {wrong:?}");
        }
        if let Some((ok, out)) = keytool(&fx, &p12, wrong) {
            assert!(!ok, "keytool opened it with {wrong:?}: {out}");
        }
    }
}

#[test]
fn certificates_only() {
    let Some(fx) = fixture() else { return };
    let p12 = bundle(&fx, false, "secret");
    let (ok, out, info) = dump(&fx, &p12, "secret");
    assert!(ok, "{info}");
    assert_eq!(out.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(
        !out.contains("PRIVATE KEY") && !info.contains("Keybag"),
        "{info}"
    );
    // No key, no localKeyId (as OpenSSL's PKCS12_create); the name stays.
    assert!(!out.contains("localKeyID") && out.contains("friendlyName: sigil-leaf"));
    assert!(info.contains("PBES2, PBKDF2, AES-256-CBC"), "{info}");
    if let Some(read) = python(&fx, &p12, "secret") {
        assert_eq!(read, Ok("False False None 2 [b'sigil-leaf', None]".into()));
    }
}

#[test]
fn refuses_what_it_cannot_bundle() {
    let empty = Pkcs12Contents {
        certs: &[],
        key_pkcs8: None,
        friendly_name: None,
    };
    assert!(matches!(
        encode(&empty, "x"),
        Err(Pkcs12Error::NoCertificate)
    ));
    let junk = [vec![0x30, 0x00]];
    let contents = Pkcs12Contents {
        certs: &junk,
        key_pkcs8: None,
        friendly_name: None,
    };
    let err = encode(&contents, "x").unwrap_err();
    assert!(
        matches!(err, Pkcs12Error::Certificate { index: 0, .. }),
        "{err}"
    );

    let Some(fx) = fixture() else { return };
    let certs = [fx.ca.clone(), fx.leaf.clone()];
    let mismatched = Pkcs12Contents {
        certs: &certs,
        key_pkcs8: Some(&fx.key),
        friendly_name: None,
    };
    assert!(matches!(
        encode(&mismatched, "x"),
        Err(Pkcs12Error::KeyMismatch)
    ));
    let not_a_key = Pkcs12Contents {
        key_pkcs8: Some(&fx.leaf),
        ..mismatched
    };
    assert!(matches!(encode(&not_a_key, "x"), Err(Pkcs12Error::Key(_))));
    let emoji = Pkcs12Contents {
        certs: &certs[1..],
        key_pkcs8: None,
        friendly_name: Some("🔑"),
    };
    assert!(matches!(
        encode(&emoji, "x"),
        Err(Pkcs12Error::FriendlyName)
    ));
}

#[test]
fn mac_password_is_the_nul_terminated_bmp_string() {
    assert_eq!(bmp_password("").as_slice(), [0, 0]);
    assert_eq!(bmp_password("pä").as_slice(), [0, 0x70, 0, 0xe4, 0, 0]);
    // Beyond U+FFFF: a surrogate pair, as OpenSSL's OPENSSL_utf82uni writes it.
    assert_eq!(
        bmp_password("🔑").as_slice(),
        [0xd8, 0x3d, 0xdd, 0x11, 0, 0]
    );
}
