//! Seeds only Rust can make, for `fuzz/seed.sh` (which runs this ignored test with
//! `SIGIL_SEEDS_DIR` set): replication frames of every kind and a whole stream, KES
//! ciphertexts under the targets' fixed key (so that decryption succeeds) and in KES's older
//! formats, and request bodies carrying them.

use std::path::PathBuf;

use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigil_kes::{Algorithm, SecretKey};
use sigil_shared::ocsp::{CertIdKey, HashAlg, IssuerHashes};
use sigil_shared::replication::*;

fn add(target: &str, data: &[u8]) {
    let dir = PathBuf::from(std::env::var("SIGIL_SEEDS_DIR").unwrap()).join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name = hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, data));
    std::fs::write(dir.join(name), data).unwrap();
}

fn changes() -> Vec<Change> {
    let hashes = IssuerHashes {
        alg: HashAlg::Sha256,
        name_hash: vec![1; 32],
        key_hash: vec![2; 32],
    };
    let key = CertIdKey::new(HashAlg::Sha1, &[3; 20], &[4; 20], &[0x0a, 0x0b]);
    let cert = SshCertEntry {
        key_id: "c1".into(),
        name: "laptop".into(),
        serial: 42,
        openssh: "ssh-ed25519-cert-v01@openssh.com AAAA".into(),
        fingerprint: "SHA256:x".into(),
        principals: vec!["alice".into()],
        valid_after: 1,
        valid_before: 2,
        host_groups: vec!["web".into()],
    };
    vec![
        Change::CaPut(CaState {
            issuer_id: "ca1".into(),
            name: "Test CA".into(),
            cert_der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
            hashes: vec![hashes],
        }),
        Change::OcspPut(OcspEntry {
            key: key.clone(),
            issuer_id: "ca1".into(),
            der: vec![0x30, 0x03, 0x0a, 0x01, 0x00],
            this_update: 1_700_000_000,
            next_update: 1_700_086_400,
        }),
        Change::OcspDelete { key },
        Change::CrlPut(CrlEntry {
            issuer_id: "ca1".into(),
            der: vec![0x30, 0x00],
            number: 7,
            this_update: 1,
            next_update: 2,
        }),
        Change::KesKeyPut(KesKeyState {
            name: "my-key".into(),
            created_at: 1,
            created_by: "admin".into(),
            versions: vec![KesKeyVersion {
                version: 1,
                algorithm: "AES256".into(),
                created_at: 1,
                kek_id: "kek-0011223344556677".into(),
                nonce: [5; 12],
                sealed: vec![6; 81],
            }],
        }),
        Change::KesPolicyPut(KesPolicyState {
            name: "app".into(),
            allow: vec!["/v1/key/*".into()],
            deny: vec![],
            created_at: 1,
            created_by: "admin".into(),
        }),
        Change::KesIdentityPut(KesIdentityState {
            identity: "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22".into(),
            policy: "app".into(),
            created_at: 1,
            created_by: "admin".into(),
        }),
        Change::SshUserPut(SshUserState {
            username: "alice".into(),
            locked: false,
            groups: vec!["web".into()],
            principals: vec!["alice".into()],
            keys: vec![SshKeyEntry {
                key_id: "k1".into(),
                name: "laptop".into(),
                openssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl".into(),
                fingerprint: "SHA256:x".into(),
                expires_at: Some(3),
                host_groups: vec!["web".into()],
            }],
            certs: vec![cert.clone()],
        }),
        Change::SshHostPut(SshHostState {
            hostname: "web1".into(),
            groups: vec!["web".into()],
            certs: vec![cert],
        }),
        Change::SshGroupPut(SshGroupState {
            name: "web".into(),
            description: "web servers".into(),
        }),
        Change::SshCaPut(SshCaState {
            kind: SshCaKind::User,
            openssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ca".into(),
        }),
        Change::SshKrlPut(SshKrlState {
            version: 2,
            krl: sigil_ssh::krl::Krl::new(2, 1).encode().unwrap(),
        }),
        Change::SshUserDelete {
            username: "bob".into(),
        },
    ]
}

#[test]
#[ignore = "writes seed files; run by fuzz/seed.sh"]
fn write_seeds() {
    let mut stream = Frame::Hello {
        version: 1,
        head: 20,
        oldest_retained: 1,
        snapshot: true,
    }
    .encode()
    .unwrap();
    Frame::SnapshotBegin { as_of: 20 }
        .encode_into(&mut stream)
        .unwrap();
    for (i, change) in changes().into_iter().enumerate() {
        let item = Frame::SnapshotItem(change.clone());
        add("replication_frame", &item.encode().unwrap());
        item.encode_into(&mut stream).unwrap();
        let record = Record {
            seq: 21 + i as u64,
            committed_at: 1_700_000_000,
            change,
        };
        add("replication_frame", &record.to_bytes().unwrap());
        add(
            "replication_frame",
            &Frame::Record(record).encode().unwrap(),
        );
    }
    Frame::SnapshotEnd { as_of: 20 }
        .encode_into(&mut stream)
        .unwrap();
    Frame::Heartbeat {
        head: 20,
        now: 1_700_000_000,
    }
    .encode_into(&mut stream)
    .unwrap();
    add("replication_frame", &stream);

    // Under the targets' fixed key: decryption succeeds.
    for alg in [Algorithm::Aes256, Algorithm::ChaCha20] {
        let key = SecretKey::new(alg, [0x42; 32]);
        let ct = key.encrypt(b"a data key of 32 bytes, like KES", b"", &[9; 28]);
        add("kes_ciphertext", &ct);
        let ct = key.encrypt(b"hello", b"{\"bucket\":\"b\"}", &[8; 28]);
        let body = format!(
            "{{\"ciphertext\":\"{}\",\"context\":\"{}\"}}",
            STANDARD.encode(&ct),
            STANDARD.encode(b"{\"bucket\":\"b\"}")
        );
        add("kes_request", body.as_bytes());
    }
    // KES's older formats (minio/kes' published vectors, as kes/src/key/tests.rs has them).
    add("kes_ciphertext", br#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#);
    add("kes_ciphertext", br#"{"aead":"ChaCha20Poly1305","id":"66687aadf862bd776c8fc18b8e9f8e20","iv":"EC0eZp7Pqt+LnkOae5xaAg==","nonce":"X1ejXKmH/ugFZPkk","bytes":"wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI="}"#);
    for b64 in [
        "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=",
        "lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiErbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu",
        "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc",
    ] {
        add("kes_ciphertext", &STANDARD.decode(b64).unwrap());
    }
}

#[test]
#[ignore = "writes seed files; run by fuzz/seed.sh"]
fn write_scep_seeds() {
    use sigil_scep::reply::{cert_rep, Reply};
    use sigil_scep::request::Requester;
    use sigil_scep::{ContentCipher, FailInfo, MessageType, PkiMessage};
    let client = Requester::new(
        include_bytes!("../../scep/testdata/client.key.der"),
        include_bytes!("../../scep/testdata/client.crt.der"),
    )
    .unwrap();
    let ra = sigil_fuzzing::scep::ra();
    let csr = include_bytes!("../../scep/testdata/client.csr.der");
    for (t, cipher) in [
        (MessageType::PkcsReq, ContentCipher::Aes128Cbc),
        (MessageType::RenewalReq, ContentCipher::Aes256Cbc),
        (MessageType::PkcsReq, ContentCipher::DesCbc),
    ] {
        let (der, _) = client.request(t, "seed", csr, &ra.cert, cipher).unwrap();
        add("scep_message", &der);
        let msg = PkiMessage::parse(&der).unwrap();
        let ok = cert_rep(
            ra,
            &msg,
            Reply::Success {
                cert_der: include_bytes!("../../scep/testdata/client.crt.der"),
                cipher,
            },
        )
        .unwrap();
        add("scep_message", &ok);
        add(
            "scep_message",
            &cert_rep(ra, &msg, Reply::Failure(FailInfo::BadRequest)).unwrap(),
        );
    }
    add("scep_message", csr);
    add(
        "scep_message",
        &sigil_scep::certs::certs_only(&[&ra.cert_der]).unwrap(),
    );
}
