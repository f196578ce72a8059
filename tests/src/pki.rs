//! Client-side PKI helpers: CSRs, PEM/DER/hex conversions and `openssl` invocations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::CertFiles;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh file name in `dir` (`<stem>-<n>.<ext>`), unique within this test process.
pub fn unique_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{stem}-{n}.{ext}"))
}

/// Writes `contents` to `path`, creating parent directories.
pub fn write_file(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Runs a command and returns its output, whatever its exit status.
pub fn run_unchecked<S: AsRef<std::ffi::OsStr>>(cmd: &str, args: &[S]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

/// Runs a command; panics with its stdout/stderr unless it exits 0.
pub fn run<S: AsRef<std::ffi::OsStr>>(cmd: &str, args: &[S]) -> Output {
    let out = run_unchecked(cmd, args);
    if !out.status.success() {
        let argv: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        panic!(
            "`{cmd} {}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// stdout followed by stderr, as text.
pub fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A P-256 key and a CSR for `CN=cn` with `subjectAltName` DNS entries `sans`; returns the
/// CSR PEM (the key is left in `dir`).
pub fn gen_csr(dir: &Path, cn: &str, sans: &[&str]) -> String {
    let key = unique_path(dir, cn, "key");
    let csr = unique_path(dir, cn, "csr");
    let subj = format!("/CN={cn}");
    let mut args: Vec<String> = [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        &subj,
        "-out",
        csr.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !sans.is_empty() {
        let list: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
        args.push("-addext".into());
        args.push(format!("subjectAltName={}", list.join(",")));
    }
    run("openssl", &args);
    std::fs::read_to_string(&csr).expect("read CSR")
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = B64
            .iter()
            .position(|x| *x == c)
            .unwrap_or_else(|| panic!("bad base64 byte {c:#x}")) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// DER of the first PEM block in `pem`.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(&body)
}

pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| *c != ':').collect();
    let s = if s.len() % 2 == 1 { format!("0{s}") } else { s };
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `b` without leading zero octets.
pub fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

/// Hex digits uppercased, without leading zeros or colons (for comparing serial numbers).
pub fn normalize_hex(s: &str) -> String {
    let s: String = s
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_uppercase();
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0".into()
    } else {
        t.into()
    }
}

/// `openssl x509 -text` of a PEM file.
pub fn x509_text(pem: &Path) -> String {
    combined(&run(
        "openssl",
        &["x509", "-in", pem.to_str().unwrap(), "-noout", "-text"],
    ))
}

/// The serial as openssl prints it (`serial=` line, uppercase hex, full octets).
pub fn x509_serial(pem: &Path) -> String {
    let out = combined(&run(
        "openssl",
        &["x509", "-in", pem.to_str().unwrap(), "-noout", "-serial"],
    ));
    out.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("unexpected -serial output {out:?}"))
        .to_owned()
}

/// `openssl ocsp -respin R -<hash> -issuer I -cert L -CAfile B`: whether it exited 0 and
/// stdout+stderr. `hash` (`sha1`/`sha256`) is the CertID hash openssl looks the leaf up with;
/// it must match the response's.
pub fn ocsp_verify(dir: &Path, resp_der: &[u8], files: &CertFiles, hash: &str) -> (bool, String) {
    let hash_opt = format!("-{hash}");
    let r = unique_path(dir, "ocsp", "der");
    write_file(&r, resp_der);
    let out = run_unchecked(
        "openssl",
        &[
            "ocsp",
            "-respin",
            r.to_str().unwrap(),
            &hash_opt,
            "-issuer",
            files.issuing.to_str().unwrap(),
            "-cert",
            files.leaf.to_str().unwrap(),
            "-CAfile",
            files.bundle.to_str().unwrap(),
        ],
    );
    (out.status.success(), combined(&out))
}

/// Checks an OCSP response with openssl: signature verifies and the status line of the leaf
/// contains `expect` (e.g. `": good"`). Returns openssl's output.
pub fn assert_ocsp(
    dir: &Path,
    resp_der: &[u8],
    files: &CertFiles,
    hash: &str,
    expect: &[&str],
) -> String {
    let (_, text) = ocsp_verify(dir, resp_der, files, hash);
    assert!(
        text.contains("Response verify OK"),
        "OCSP response does not verify:\n{text}"
    );
    for e in expect {
        assert!(text.contains(e), "OCSP check output lacks {e:?}:\n{text}");
    }
    text
}

/// `openssl ocsp -respin R -resp_text -noverify`.
pub fn ocsp_text(dir: &Path, resp_der: &[u8]) -> String {
    let r = unique_path(dir, "ocsp", "der");
    write_file(&r, resp_der);
    combined(&run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            r.to_str().unwrap(),
            "-resp_text",
            "-noverify",
        ],
    ))
}

/// `openssl crl -inform DER -in crl.der -CAfile issuing.pem -noout -text`: (stdout, stderr).
pub fn crl_text(dir: &Path, crl_der: &[u8], issuing: &Path) -> (String, String) {
    let f = unique_path(dir, "crl", "der");
    write_file(&f, crl_der);
    let out = run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            f.to_str().unwrap(),
            "-CAfile",
            issuing.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Serial numbers listed in `openssl crl -text` output, normalised with [`normalize_hex`].
pub fn crl_serials(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number:"))
        .map(normalize_hex)
        .collect()
}

/// Writes a DER CRL as PEM (via openssl) and returns the path.
pub fn crl_to_pem(dir: &Path, crl_der: &[u8]) -> PathBuf {
    let der = unique_path(dir, "crl", "der");
    let pem = unique_path(dir, "crl", "pem");
    write_file(&der, crl_der);
    run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    pem
}

/// `openssl verify [-crl_check -CRLfile crl] -CAfile bundle leaf`: (exit 0?, output).
pub fn verify(files: &CertFiles, crl_pem: Option<&Path>) -> (bool, String) {
    let mut args: Vec<&str> = vec!["verify"];
    if let Some(c) = crl_pem {
        args.extend(["-crl_check", "-CRLfile", c.to_str().unwrap()]);
    }
    args.extend([
        "-CAfile",
        files.bundle.to_str().unwrap(),
        files.leaf.to_str().unwrap(),
    ]);
    let out = run_unchecked("openssl", &args);
    (out.status.success(), combined(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..20u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)), data);
        }
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_decode("00ab"), vec![0, 0xab]);
        assert_eq!(normalize_hex("00:AB:0c"), "AB0C");
        assert_eq!(strip_zeros(&[0, 0, 1]), vec![1]);
    }
}
