//! The SSH key service: OpenSSH public keys (what users submit), certificates, KRLs, and the
//! data plane's lookups with their query and form parameters.

use std::sync::OnceLock;

use sigil_ssh::cert::{self, CertInfo, CertKind, CertRequest};
use sigil_ssh::key::{fingerprint_of_blob, sha256_of_fingerprint, ParsedKey};
use sigil_ssh::krl::Krl;
use sigil_ssh::{CaAlgorithm, CaSigner, SoftwareCa};

mod lookup;

pub use lookup::ssh_lookup;

/// A CA for the certificates the targets sign (its key differs per process; nothing asserted
/// depends on it).
pub(crate) fn ca() -> &'static SoftwareCa {
    static CA: OnceLock<SoftwareCa> = OnceLock::new();
    CA.get_or_init(|| SoftwareCa::generate(CaAlgorithm::Ed25519).unwrap())
}

/// Any text as an authorized_keys-style key line: parsing never panics, and an accepted key
/// is canonical — its `openssh` form parses to the same key, its fingerprint is the SHA-256 of
/// its blob, and its blob parses on its own.
pub fn ssh_public_key(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = ParsedKey::parse(line) {
        assert!(!k.openssh.contains(['\n', '\r', '\0']));
        assert_eq!(k.openssh.split(' ').count(), 2);
        let again = ParsedKey::parse(&k.openssh).unwrap();
        assert_eq!((&again.blob, &again.fingerprint), (&k.blob, &k.fingerprint));
        assert_eq!(fingerprint_of_blob(&k.blob), k.fingerprint);
        assert_eq!(sha256_of_fingerprint(&k.fingerprint), Some(k.sha256));
        assert_eq!(ParsedKey::from_blob(&k.blob).unwrap().openssh, k.openssh);
    }
}

/// Any text as a certificate line (`type-cert-v01@openssh.com base64 [comment]`) and as a
/// key to certify. A certificate that reads has a well-formed fingerprint, and a KRL naming
/// its serial and key ID under its CA revokes it after encoding and decoding. A key Sigil
/// accepts is certified, and the certificate reads back with what was asked for.
pub fn ssh_cert(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = CertInfo::parse(line) {
        assert!(sha256_of_fingerprint(&info.fingerprint).is_some());
        let mut krl = Krl::new(1, 0);
        if info.serial != 0 {
            krl.revoke_serial(&info.ca_blob, info.serial);
        }
        krl.revoke_key_id(&info.ca_blob, &info.key_id);
        if let Ok(bytes) = krl.encode() {
            let krl = Krl::decode(&bytes).expect("an encoded KRL decodes");
            assert!(krl.revokes_cert(&info.ca_blob, info.serial, &info.key_id));
            assert!(krl.revokes_key_id(&info.ca_blob, &info.key_id));
        }
    }
    if let Ok(key) = ParsedKey::parse(line) {
        let kind = match data.len() % 2 {
            0 => CertKind::User,
            _ => CertKind::Host,
        };
        let req = CertRequest {
            kind,
            public_key: &key,
            serial: 1 + data.len() as u64,
            key_id: "fuzz@sigil".into(),
            principals: vec!["alice".into(), "deploy".into()],
            valid_after: 1_700_000_000,
            valid_before: 1_700_003_600,
        };
        let signed =
            cert::sign_with_nonce(&req, &[7; 32], ca()).expect("an accepted key certifies");
        assert_eq!(signed.fingerprint, key.fingerprint);
        let info = CertInfo::parse(&signed.openssh).expect("a signed certificate reads");
        assert_eq!(info.kind, kind);
        assert_eq!(info.serial, req.serial);
        assert_eq!(info.key_id, req.key_id);
        assert_eq!(info.principals, req.principals);
        assert_eq!(
            (info.valid_after, info.valid_before),
            (req.valid_after, req.valid_before)
        );
        assert_eq!(info.fingerprint, key.fingerprint);
        let ca_key = ParsedKey::from_ssh_key(&ca().public_key()).unwrap();
        assert_eq!(info.ca_blob, ca_key.blob);
    }
}

/// Any bytes as an OpenSSH KRL: decoding never panics, and whatever decodes encodes again and
/// decodes to the same KRL (and that encoding is stable).
pub fn ssh_krl(data: &[u8]) {
    if let Ok(krl) = Krl::decode(data) {
        let bytes = krl.encode().expect("a decoded KRL encodes");
        let again = Krl::decode(&bytes).expect("an encoded KRL decodes");
        assert_eq!(again, krl);
        assert_eq!(again.encode().unwrap(), bytes);
        let _ = krl.revokes_cert(&[], 1, "");
    }
}
