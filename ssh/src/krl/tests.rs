use super::*;
use crate::key::{self, tests::ED25519, ParsedKey};
use crate::wire;
use proptest::prelude::*;

/// `ssh-keygen -k -f krl -s ca.pub spec` (OpenSSH 9.2) with the spec `serial: 5`, `id: foo`,
/// `serial: 10-20`, `hash: SHA256:pmull2AS4dSWGf/6FRxLyG1fp6Q5nW6T2XVl2nfaX3U`: a
/// certificates section with a serial bitmap (0x22) and a key ID list, then a SHA-256 section.
const OPENSSH_KRL: &str = "5353484b524c0a00000000010000000000000000000000006b165a700000000000000000000000000000000001000000\
5b000000330000000b7373682d6564323535313900000020747801699aff7209bc1393fad6a1c9124b1d41f9b5ff7e8d\
c98a15ada14b35e300000000220000000f00000000000000050000000300ffe1230000000700000003666f6f05000000\
2400000020a66ba5976012e1d49619fffa151c4bc86d5fa7a4399d6e93d97565da77da5f75";
/// The CA of that KRL.
const OPENSSH_KRL_CA: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHR4AWma/3IJvBOT+tahyRJLHUH5tf9+jcmKFa2hSzXj";
const P256_FP: &str = "SHA256:pmull2AS4dSWGf/6FRxLyG1fp6Q5nW6T2XVl2nfaX3U";

fn ca_blob() -> Vec<u8> {
    ParsedKey::parse(OPENSSH_KRL_CA).unwrap().blob
}

fn header(version: u64, generated: u64, comment: &[u8]) -> Vec<u8> {
    let mut out = KRL_MAGIC.to_vec();
    wire::put_u32(&mut out, 1);
    wire::put_u64(&mut out, version);
    wire::put_u64(&mut out, generated);
    wire::put_u64(&mut out, 0);
    wire::put_string(&mut out, b"");
    wire::put_string(&mut out, comment);
    out
}

fn section(out: &mut Vec<u8>, ty: u8, data: &[u8]) {
    wire::put_u8(out, ty);
    wire::put_string(out, data);
}

/// A certificates section for `ca` with raw subsections.
fn cert_section(ca: &[u8], subs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut s = Vec::new();
    wire::put_string(&mut s, ca);
    wire::put_string(&mut s, b"");
    for (ty, data) in subs {
        section(&mut s, *ty, data);
    }
    s
}

fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

#[test]
fn reads_openssh_s_krl() {
    let krl = Krl::decode(&hex(OPENSSH_KRL)).unwrap();
    assert_eq!(krl.version, 0);
    assert_eq!(krl.generated_at, 0x6b16_5a70);
    assert_eq!(krl.comment, "");
    let rc = &krl.certs[&ca_blob()];
    assert_eq!(
        rc.serials.iter().copied().collect::<Vec<_>>(),
        [5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    );
    assert_eq!(rc.key_ids.iter().collect::<Vec<_>>(), ["foo"]);
    let h = key::sha256_of_fingerprint(P256_FP).unwrap();
    assert_eq!(krl.revoked_sha256.iter().collect::<Vec<_>>(), [&h]);
    assert!(krl.revokes_key(&h));
    assert!(krl.revokes_cert(&ca_blob(), 5, "x"));
    assert!(krl.revokes_cert(&ca_blob(), 20, "x"));
    assert!(!krl.revokes_cert(&ca_blob(), 21, "x"));
    assert!(!krl.revokes_cert(&ca_blob(), 6, "x"));
    assert!(krl.revokes_cert(&ca_blob(), 6, "foo"));
    assert!(!krl.revokes_cert(&[], 5, "x")); // not a wildcard entry
    assert!(!krl.revokes_cert(&ParsedKey::parse(ED25519).unwrap().blob, 5, "foo"));
    // Written back as lists, read back the same.
    assert_eq!(Krl::decode(&krl.encode().unwrap()).unwrap(), krl);
}

#[test]
fn encodes_byte_for_byte() {
    let mut krl = Krl::new(3, 1_700_000_000);
    krl.comment = "sigil".into();
    let ca = ca_blob();
    krl.revoke_serial(&ca, 9);
    krl.revoke_serial(&ca, 2);
    krl.revoke_key_id(&ca, "bob");
    krl.revoke_key_id(&ca, "alice");
    krl.revoke_key([0xff; 32]);
    krl.revoke_key([0x01; 32]);

    let mut expected = header(3, 1_700_000_000, b"sigil");
    let mut ids = Vec::new();
    wire::put_string(&mut ids, b"alice");
    wire::put_string(&mut ids, b"bob");
    section(
        &mut expected,
        1,
        &cert_section(&ca, &[(0x20, u64s(&[2, 9])), (0x23, ids)]),
    );
    let mut hashes = Vec::new();
    wire::put_string(&mut hashes, &[0x01; 32]);
    wire::put_string(&mut hashes, &[0xff; 32]);
    section(&mut expected, 5, &hashes);
    assert_eq!(krl.encode().unwrap(), expected);
    assert_eq!(Krl::decode(&expected).unwrap(), krl);

    // Empty: the header alone.
    assert_eq!(Krl::new(1, 2).encode().unwrap(), header(1, 2, b""));
}

#[test]
fn revocation_rules() {
    let ca = ca_blob();
    let other = ParsedKey::parse(ED25519).unwrap().blob;
    let mut krl = Krl::new(1, 0);
    krl.revoke_serial(&ca, 5);
    krl.revoke_key_id(&[], "everywhere");
    // By serial only under its CA; by key ID under the wildcard for every CA.
    assert!(krl.revokes_cert(&ca, 5, "id"));
    assert!(!krl.revokes_cert(&other, 5, "id"));
    assert!(krl.revokes_cert(&other, 1, "everywhere"));
    assert!(krl.revokes_cert(&ca, 1, "everywhere"));
    assert!(krl.has_key_ids(&other) && krl.has_key_ids(&ca));
    let mut only_serials = Krl::new(1, 0);
    only_serials.revoke_serial(&ca, 5);
    assert!(!only_serials.has_key_ids(&ca));
    // Serial 0 is never revoked by serial, even if listed (it cannot be encoded).
    krl.revoke_serial(&ca, 0);
    assert!(!krl.revokes_cert(&ca, 0, "id"));
    assert_eq!(krl.encode(), Err(KrlError::ZeroSerial));
}

#[test]
fn encode_refusals() {
    let mut k = Krl::new(1, 0);
    k.comment = "a\0b".into();
    assert_eq!(k.encode(), Err(KrlError::BadString));
    let mut k = Krl::new(1, 0);
    k.revoke_key_id(&ca_blob(), "a\0");
    assert_eq!(k.encode(), Err(KrlError::BadString));
    let mut k = Krl::new(1, 0);
    k.revoke_serial(b"not a key", 1);
    assert!(matches!(k.encode(), Err(KrlError::BadCaKey(_))));
}

/// Each rule of OpenSSH's parser, one KRL each.
#[test]
fn decode_refusals() {
    let ca = ca_blob();
    let with = |ty: u8, data: &[u8]| {
        let mut k = header(1, 0, b"");
        section(&mut k, ty, data);
        k
    };
    let cert = |subs: &[(u8, Vec<u8>)]| with(1, &cert_section(&ca, subs));
    let ext = |critical: u8, trailing: bool| {
        let mut e = Vec::new();
        wire::put_string(&mut e, b"x@example.org");
        wire::put_u8(&mut e, critical);
        wire::put_string(&mut e, b"body");
        if trailing {
            e.push(0);
        }
        e
    };
    let mut bad_version = header(1, 0, b"");
    bad_version[8..12].copy_from_slice(&2u32.to_be_bytes());
    let cases: Vec<(Vec<u8>, KrlError)> = vec![
        (b"SSHKRL\n".to_vec(), KrlError::BadMagic),
        (b"SSHKRL\n\x01rest".to_vec(), KrlError::BadMagic),
        (bad_version, KrlError::FormatVersion(2)),
        (header(1, 0, b"a\0b"), KrlError::BadString),
        (header(1, 0, b"\xff"), KrlError::BadString),
        (with(6, b""), KrlError::UnknownSection(6)),
        (with(3, b""), KrlError::Sha1Section),
        (with(4, b""), KrlError::SignatureSection),
        (
            with(255, &ext(1, false)),
            KrlError::CriticalExtension("x@example.org".into()),
        ),
        (with(255, &ext(0, true)), KrlError::TrailingData),
        (with(5, &[0, 0, 0, 1, 7]), KrlError::HashLength(1)),
        (with(5, &[0, 0, 0, 32, 7]), KrlError::Truncated),
        (cert(&[(0x20, u64s(&[3, 0]))]), KrlError::ZeroSerial),
        (
            cert(&[(0x20, [u64s(&[1]), vec![0; 4]].concat())]),
            KrlError::Truncated,
        ),
        (
            cert(&[(0x21, u64s(&[0, 4]))]),
            KrlError::BadRange { lo: 0, hi: 4 },
        ),
        (
            cert(&[(0x21, u64s(&[5, 4]))]),
            KrlError::BadRange { lo: 5, hi: 4 },
        ),
        (cert(&[(0x21, u64s(&[1, 4, 9]))]), KrlError::TrailingData),
        (
            cert(&[(0x21, u64s(&[1, u64::MAX]))]),
            KrlError::TooManySerials,
        ),
        (
            cert(&[(0x22, [u64s(&[1]), vec![0, 0, 0, 1, 0x80]].concat())]),
            KrlError::BadBitmap,
        ),
        (
            cert(&[(0x22, [u64s(&[u64::MAX]), vec![0, 0, 0, 1, 0x03]].concat())]),
            KrlError::BadBitmap,
        ),
        (
            cert(&[(0x22, [u64s(&[0]), vec![0, 0, 0, 1, 0x01]].concat())]),
            KrlError::ZeroSerial,
        ),
        (
            cert(&[(0x23, vec![0, 0, 0, 3, b'a', 0, b'b'])]),
            KrlError::BadString,
        ),
        (cert(&[(0x24, vec![])]), KrlError::UnknownCertSection(0x24)),
        (
            cert(&[(0x39, ext(2, false))]),
            KrlError::CriticalExtension("x@example.org".into()),
        ),
        (
            with(1, &cert_section(b"junk", &[])),
            KrlError::BadCaKey(String::new()),
        ),
        (
            with(1, &[cert_section(&ca, &[]), vec![0x20]].concat()),
            KrlError::Truncated,
        ),
    ];
    for (bytes, want) in cases {
        let got = Krl::decode(&bytes).unwrap_err();
        match (&got, &want) {
            (KrlError::BadCaKey(_), KrlError::BadCaKey(_)) => {}
            _ => assert_eq!(got, want, "{bytes:x?}"),
        }
    }
    // Every truncation of a real KRL fails, except at the ends of its header (44 bytes) and
    // its first section (140): a KRL with fewer sections.
    let good = hex(OPENSSH_KRL);
    for n in 0..good.len() {
        assert_eq!(
            Krl::decode(&good[..n]).is_ok(),
            n == 44 || n == 140,
            "prefix {n}"
        );
    }
}

/// What OpenSSH's parser accepts that Sigil never writes: ranges, bitmaps, explicit keys,
/// unsorted and duplicate entries, non-critical extensions, a C string's final NUL, flags,
/// reserved bytes, a certificates section with no subsections.
#[test]
fn decode_accepts_what_openssh_accepts() {
    let ca = ca_blob();
    let mut k = header(9, 1, b"note\0");
    k[28..36].copy_from_slice(&u64::MAX.to_be_bytes()); // flags
    let mut ids = Vec::new();
    wire::put_string(&mut ids, b"zed");
    wire::put_string(&mut ids, b"amy\0");
    wire::put_string(&mut ids, b"zed");
    let mut ext = Vec::new();
    wire::put_string(&mut ext, b"x@example.org");
    wire::put_u8(&mut ext, 0);
    wire::put_string(&mut ext, b"ignored");
    section(
        &mut k,
        1,
        &cert_section(
            &ca,
            &[
                (0x20, u64s(&[9, 3, 9])),
                (0x21, u64s(&[100, 102])),
                (0x22, [u64s(&[1000]), vec![0, 0, 0, 2, 0x01, 0x01]].concat()),
                (0x23, ids),
                (0x39, ext.clone()),
            ],
        ),
    );
    section(&mut k, 1, &cert_section(&[], &[]));
    let mut hashes = Vec::new();
    wire::put_string(&mut hashes, &[9; 32]);
    wire::put_string(&mut hashes, &[1; 32]);
    wire::put_string(&mut hashes, &[9; 32]);
    section(&mut k, 5, &hashes);
    let mut explicit = Vec::new();
    let ed = ParsedKey::parse(ED25519).unwrap();
    wire::put_string(&mut explicit, &ed.blob);
    section(&mut k, 2, &explicit);
    section(&mut k, 255, &ext);

    let krl = Krl::decode(&k).unwrap();
    assert_eq!((krl.version, krl.generated_at), (9, 1));
    assert_eq!(krl.comment, "note");
    let rc = &krl.certs[&ca];
    assert_eq!(
        rc.serials.iter().copied().collect::<Vec<_>>(),
        [3, 9, 100, 101, 102, 1000, 1008]
    );
    assert_eq!(rc.key_ids.iter().collect::<Vec<_>>(), ["amy", "zed"]);
    assert_eq!(krl.certs[&Vec::new()], RevokedCerts::default());
    assert!(krl.revokes_key(&[9; 32]) && krl.revokes_key(&[1; 32]));
    assert!(
        krl.revokes_key(&ed.sha256),
        "explicit key read as its SHA-256"
    );
    assert_eq!(krl.revoked_sha256.len(), 3);
    assert_eq!(Krl::decode(&krl.encode().unwrap()).unwrap(), krl);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arb_krl() -> impl Strategy<Value = Krl> {
    let cas = vec![
        Vec::new(),
        ca_blob(),
        ParsedKey::parse(ED25519).unwrap().blob,
    ];
    let revoked = (
        proptest::collection::btree_set(1u64.., 0..20),
        proptest::collection::btree_set("[^\0]{0,12}", 0..5),
    )
        .prop_map(|(serials, key_ids)| RevokedCerts { serials, key_ids });
    (
        any::<u64>(),
        any::<u64>(),
        "[^\0]{0,20}",
        proptest::collection::btree_set(any::<[u8; 32]>(), 0..20),
        proptest::collection::btree_map(proptest::sample::select(cas), revoked, 0..3),
    )
        .prop_map(
            |(version, generated_at, comment, revoked_sha256, certs)| Krl {
                version,
                generated_at,
                comment,
                revoked_sha256,
                certs,
            },
        )
}

proptest! {
    #[test]
    fn round_trip(krl in arb_krl()) {
        let bytes = krl.encode().unwrap();
        let back = Krl::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &krl);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut with_magic = KRL_MAGIC.to_vec();
        with_magic.extend_from_slice(&[0, 0, 0, 1]);
        with_magic.extend_from_slice(&data);
        for d in [&data[..], &with_magic[..]] {
            if let Ok(k) = Krl::decode(d) {
                prop_assert_eq!(Krl::decode(&k.encode().unwrap()).unwrap(), k);
            }
        }
    }

    /// Byte flips in a real KRL: no panic, and whatever still decodes round-trips.
    #[test]
    fn mutations(krl in arb_krl(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = krl.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = b;
        if let Ok(k) = Krl::decode(&bytes) {
            prop_assert_eq!(Krl::decode(&k.encode().unwrap()).unwrap(), k);
        }
    }
}
