//! What the secrets-at-rest test looks for and where: the control plane's secrets (opened
//! with its key-encryption key through the storage API, as an attacker holding both would),
//! the byte strings that would betray each of them (PKCS#8 DER, its base64, the private
//! scalar or seed; the OpenSSH key's text, blob and scalar; raw secrets), and two searches of
//! a data directory:
//! - every byte of every file (RocksDB SSTs, WAL, MANIFEST, logs, anything else), which
//!   covers what is written uncompressed: the WAL and uncompressed blocks;
//! - every key and value of every column family of every RocksDB database found, opened
//!   read-only, which covers the SST blocks RocksDB compresses with LZ4 (RocksDB decompresses
//!   them itself, so the test decompresses nothing).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sigil_controlplane::crypto::sealed;
use sigil_controlplane::db::cf;
use sigil_controlplane::db::secrets::{SecretKind, SecretName};
use sigil_kes::{Kek, KeyWrapper};
use sigil_shared::der::{
    canonical_uint, read_single, Reader, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE,
};
use sigil_storage::{Durability, ReadView, Store, WriteBatch};
use sigil_storage_rocksdb::{RocksOptions, RocksStore};

/// A byte string that must not appear, and what it betrays.
#[derive(Debug, Clone)]
pub struct Needle {
    pub what: String,
    pub bytes: Vec<u8>,
}

fn needle(what: impl Into<String>, bytes: &[u8]) -> Needle {
    Needle {
        what: what.into(),
        bytes: bytes.to_vec(),
    }
}

/// The KEK `sigil-cp init` wrote to `path`.
pub fn kek_from_file(path: &Path) -> Kek {
    Kek::parse(&std::fs::read_to_string(path).expect("read the KEK file")).expect("a KEK")
}

fn open_store(data_dir: &Path) -> RocksStore {
    RocksStore::open(&data_dir.join("db"), cf::ALL, &RocksOptions::default())
        .expect("open the stopped control plane's store")
}

/// Every stored secret of a stopped control plane, opened with `kek`.
pub fn stored_secrets(data_dir: &Path, kek: &dyn KeyWrapper) -> Vec<(SecretName, Vec<u8>)> {
    let store = open_store(data_dir);
    let mut out = Vec::new();
    store
        .scan(cf::KEYS, &[], None, &mut |k, v| {
            let name = SecretName::from_entry(k).expect("a known entry");
            let plain = sealed::open(kek, &name, v)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .to_vec();
            out.push((name, plain));
            true
        })
        .unwrap();
    out
}

/// Each stored value of `keys`: sealed (opened with `kek`) or clear, with its plaintext.
pub fn stored_states(data_dir: &Path, kek: &dyn KeyWrapper) -> Vec<(SecretName, bool, Vec<u8>)> {
    let store = open_store(data_dir);
    let mut out = Vec::new();
    store
        .scan(cf::KEYS, &[], None, &mut |k, v| {
            let name = SecretName::from_entry(k).expect("a known entry");
            let is_sealed = v.starts_with(sealed::MAGIC);
            let plain = if is_sealed {
                sealed::open(kek, &name, v)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .to_vec()
            } else {
                v.to_vec()
            };
            out.push((name, is_sealed, plain));
            true
        })
        .unwrap();
    out
}

/// Rewrites every secret of a stopped control plane in the clear: the data directory older
/// versions wrote (the same entries, plaintext values), made through the storage API.
pub fn unseal_all(data_dir: &Path, kek: &dyn KeyWrapper) -> usize {
    let secrets = stored_secrets(data_dir, kek);
    let store = open_store(data_dir);
    let mut batch = WriteBatch::new();
    for (name, plain) in &secrets {
        batch.put(cf::KEYS, name.entry(), plain.clone());
    }
    store.write(batch, Durability::Sync).unwrap();
    secrets.len()
}

/// The start of any DER PKCS#8 `PrivateKeyInfo` of an EC, RSA or Ed25519 key (version 0, then
/// the algorithm): a private key of any origin, not only the ones the test knows.
pub fn pkcs8_markers() -> Vec<Needle> {
    [
        (
            "PKCS#8 EC header",
            &b"\x02\x01\x00\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"[..],
        ),
        (
            "PKCS#8 RSA header",
            b"\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01",
        ),
        (
            "PKCS#8 Ed25519 header",
            b"\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20",
        ),
    ]
    .into_iter()
    .map(|(what, bytes)| needle(what, bytes))
    .collect()
}

/// What betrays `plain`, the secret `name`.
pub fn needles_of(name: &SecretName, plain: &[u8]) -> Vec<Needle> {
    let label = name.to_string();
    match name.kind {
        SecretKind::CaKey | SecretKind::ResponderKey | SecretKind::ScepRaKey => {
            pkcs8_needles(&label, plain)
        }
        SecretKind::SshCaKey => openssh_needles(&label, plain),
        SecretKind::SshTokenSecret => vec![needle(label, plain)],
    }
}

/// A PKCS#8 key: its DER, part of its base64 past the header every key of its type shares
/// (where the private key starts), and its private scalar (EC `d`, the Ed25519 seed, RSA `d`,
/// `p` and `q`).
pub fn pkcs8_needles(label: &str, der: &[u8]) -> Vec<Needle> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let start = (b64.len() - 32).min(40) / 4 * 4;
    let mut out = vec![
        needle(format!("{label}: PKCS#8 DER"), der),
        needle(
            format!("{label}: PKCS#8 base64"),
            &b64.as_bytes()[start..start + 32],
        ),
    ];
    for (i, s) in private_scalars(der).iter().enumerate() {
        assert!(s.len() >= 32, "{label}: scalar {i} of {} bytes", s.len());
        out.push(needle(format!("{label}: private scalar {i}"), s));
    }
    out
}

/// The private scalars of a PKCS#8 key (RFC 5958; RFC 5915 EC, RFC 8410 Ed25519, RFC 8017
/// RSA).
fn private_scalars(der: &[u8]) -> Vec<Vec<u8>> {
    let info = read_single(der, TAG_SEQUENCE).expect("PKCS#8");
    let mut r = Reader::new(info.value);
    r.read(TAG_INTEGER).unwrap();
    r.read(TAG_SEQUENCE).unwrap();
    let key = r.read(TAG_OCTET_STRING).unwrap().value;
    if let Ok(seed) = read_single(key, TAG_OCTET_STRING) {
        return vec![seed.value.to_vec()]; // Ed25519: CurvePrivateKey
    }
    let seq = read_single(key, TAG_SEQUENCE).expect("ECPrivateKey or RSAPrivateKey");
    let mut r = Reader::new(seq.value);
    r.read(TAG_INTEGER).unwrap();
    let next = r.read_any().unwrap();
    if next.tag == TAG_OCTET_STRING {
        return vec![next.value.to_vec()]; // EC: d
    }
    // RSA: n (read), e, d, p, q.
    r.read(TAG_INTEGER).unwrap();
    (0..3)
        .map(|_| {
            canonical_uint(r.read(TAG_INTEGER).unwrap().value)
                .unwrap()
                .to_vec()
        })
        .collect()
}

/// An OpenSSH private key: the lines of its text that encode its private scalar (the others
/// encode public parts, also found in the CA's public key line), the decoded blob around the
/// scalar, and the scalar itself (the Ed25519 seed or the ECDSA `d`; PROTOCOL.key, RFC 5656
/// §3.1).
pub fn openssh_needles(label: &str, text: &[u8]) -> Vec<Needle> {
    let text = std::str::from_utf8(text).expect("OpenSSH key text");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(lines.concat())
        .expect("base64 body");
    let scalar = openssh_scalar(&blob);
    let at = blob
        .windows(scalar.len())
        .position(|w| w == scalar)
        .expect("the scalar in the blob");
    // Base64 characters [at·4/3, (at+len)·4/3) encode the scalar.
    let (first, last) = (at * 4 / 3, (at + scalar.len()) * 4 / 3);
    let mut out = Vec::new();
    let mut pos = 0;
    for l in &lines {
        if pos < last && first < pos + l.len() {
            out.push(needle(format!("{label}: OpenSSH text"), l.as_bytes()));
        }
        pos += l.len();
    }
    assert!(!out.is_empty());
    let around = &blob[at.saturating_sub(8)..(at + scalar.len() + 8).min(blob.len())];
    out.push(needle(format!("{label}: OpenSSH blob"), around));
    out.push(needle(format!("{label}: private scalar"), &scalar));
    out
}

fn openssh_scalar(blob: &[u8]) -> Vec<u8> {
    struct Buf<'a>(&'a [u8]);
    impl<'a> Buf<'a> {
        fn u32(&mut self) -> u32 {
            let v = u32::from_be_bytes(self.0[..4].try_into().unwrap());
            self.0 = &self.0[4..];
            v
        }
        fn string(&mut self) -> &'a [u8] {
            let n = self.u32() as usize;
            let (s, rest) = self.0.split_at(n);
            self.0 = rest;
            s
        }
    }
    let mut b = Buf(blob
        .strip_prefix(b"openssh-key-v1\0")
        .expect("openssh-key-v1"));
    assert_eq!(b.string(), b"none", "unencrypted");
    b.string(); // kdfname
    b.string(); // kdfoptions
    assert_eq!(b.u32(), 1, "one key");
    b.string(); // public key
    let mut p = Buf(b.string());
    p.u32(); // check ints
    p.u32();
    match p.string() {
        b"ssh-ed25519" => {
            p.string(); // public
            p.string()[..32].to_vec() // seed ‖ public
        }
        t if t.starts_with(b"ecdsa-sha2-") => {
            p.string(); // curve
            p.string(); // Q
            let d = p.string();
            d.strip_prefix(&[0]).unwrap_or(d).to_vec()
        }
        t => panic!("unexpected key type {}", String::from_utf8_lossy(t)),
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every needle found in the bytes of any file under `dir`: `"file: what"`, and how many
/// files and bytes were searched.
pub fn search_files(dir: &Path, needles: &[Needle]) -> (Vec<String>, usize, usize) {
    let mut found = Vec::new();
    let (mut files, mut bytes) = (0, 0);
    for f in files_under(dir) {
        let data = std::fs::read(&f).unwrap();
        files += 1;
        bytes += data.len();
        for n in needles {
            if contains(&data, &n.bytes) {
                found.push(format!("{}: {}", f.display(), n.what));
            }
        }
    }
    (found, files, bytes)
}

/// Every needle found in a key or value of any column family of any RocksDB database under
/// `dir` (a directory holding an `IDENTITY` file), opened read-only; and how many databases
/// and records were searched.
pub fn search_databases(dir: &Path, needles: &[Needle]) -> (Vec<String>, usize, usize) {
    let mut found = Vec::new();
    let (mut dbs, mut records) = (0, 0);
    let mut db_dirs: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "IDENTITY"))
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    db_dirs.sort();
    for db_dir in db_dirs {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, &db_dir).expect("list column families");
        let db = rocksdb::DB::open_cf_for_read_only(&opts, &db_dir, &cfs, false)
            .unwrap_or_else(|e| panic!("open {} read-only: {e}", db_dir.display()));
        dbs += 1;
        for name in &cfs {
            let handle = db.cf_handle(name).expect("listed column family");
            for item in db.iterator_cf(handle, rocksdb::IteratorMode::Start) {
                let (k, v) = item.expect("read a record");
                records += 1;
                for n in needles {
                    if contains(&k, &n.bytes) || contains(&v, &n.bytes) {
                        found.push(format!("{} cf {name}: {}", db_dir.display(), n.what));
                    }
                }
            }
        }
    }
    (found, dbs, records)
}
