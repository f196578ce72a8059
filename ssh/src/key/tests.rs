//! Vectors made with OpenSSH 9.2's ssh-keygen (`ssh-keygen -t … -C …`, `ssh-keygen -lf`).

use super::*;
use proptest::prelude::*;

pub(crate) const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGonXZjcbdZmrOTEjWjEvFbknZ+7koYWyE/jQtj3his+ c-ed25519";
pub(crate) const ED25519_FP: &str = "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ";
const P256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF9m1oxVcE4Vm/6jjenaaCVwNCG0H96CCgtcdPArjlFfp9QEH12aXYN8fqP5Q405KsLvWAswK3o8eeHcxzb48N8= c-ecdsab256";
const P256_FP: &str = "SHA256:pmull2AS4dSWGf/6FRxLyG1fp6Q5nW6T2XVl2nfaX3U";
const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBJvlVDP0DM9iDjcCQL+hzRaF9XQ6Py+x3hvvH56yuLiTyICIrwqyz/L4p/AR/7U6WLUvEZTgIGCuLWEyNmbUwLJoYA9T8fMdFtzFBuXaN6pDA6ysjPDYeoch+QmQpPOrTA== c-ecdsab384";
const P384_FP: &str = "SHA256:k0rJpKf9miZnAP0Opq1ndUjBKWUq2b5YDWKdpInIMAc";
const P521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBADbYc3Uzrn8/dprspebt+yobBE7FZ62MEdtJSmZ/S3DjuLN6pBtEBMG9kSS0kQM6sTjgWkRTGMn8VXK1CnL/tk8aAHCygV6lfVBd7Il1FbBTesOJ8LI08Wt/ZnNzlLPmoVF4WWIe2GQRb+BSLa0yJBaxygM4OyxPUpm7BjGrWiowvYk9w== c-ecdsab521";
const P521_FP: &str = "SHA256:vyFQDs+XnC8c3gVEUtarq7qc/ME5S+d1hyBfyMhJZ+8";
const RSA2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDXQm1HoF5bsAP69uz+HCJtRYgcjmeLBlkl7w2ZBZxXDPHe3VPLum41Bsf8kNDXWmVXqDLpNIzGlfk9BC808/Wke6Shdb8VUog5tmgzaQmfx8E55SdXXul/NarCEqeCaLE6sB64w8VCIC6cy/+VfdrSspQe6ylElHMogxk70didrqzXzEDyV7be/ZNm/MDSx2Pw+iAi/loHgwuT1M/4XKIVNZJCuuVDsBUD4qNoE8+EeMAQxcfRvh8BnsySIsrhHu0Z/v3U36JncYm22IadTP6/TyXXY4eTAH9ACHIV9lNTPxhXNh/k40zERfNudFslCG8dM34ohBfbZuM41W/t91iF c-rsab2048";
const RSA2048_FP: &str = "SHA256:MdUcUeJi+dPDjQcaax4KGJzo2By9a3zWXxQlLHcCEHk";
/// The key of Keyper's API documentation, with the fingerprint it shows.
pub(crate) const SEED_RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1KtJpPn6W9W5WgPU8+eYuuSKKyHA+Z62mVLYp50Ch/MMTUSxcFF/V1H81CStU4OrPv/pUxpHtqSDeTCMbVtTmP0Bbc5V7rCYQVgfhTB7CzKAwnfJSfJGY/JoJLCrC4kt40PMwyXTHiPUkrs4tOHiv7GIT4aZI/wmVPrg8x6oBFRgfCl1TQVgeSQl2kAnjkUHEsq2CsnZR9mKIJ31CWzeHLotYHNg82jmgylCWUsl6Pd5eigObUtk0j6Vnjn7FUKwSmffhEPInU1K+IzYMdFe1QElTSO7X+IOjedQZ2Y8nt3U9N9WPyd7FK13Sn8Ij22CIMmTuvfNXv/H4ja9vF0Ob";
pub(crate) const SEED_RSA_FP: &str = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20";
const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDJ1RhAD++iQEsUQ+H0gKOwZy+sa0YjT3bXWSwztTWtAr0Trbct8cI241oAOl/wYLo11RK9zoX/raVL2r/GlHmVGS7h0lKHs1ZClTq0fQtET+5Lo72hUDC2Yv+nRVtYrEgD1Ixypsa7gWFczU7aUFn/QUDHjvfm2dMSZ2be1SEKZQ== c-rsab1024";
const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBANLKpqNsvYN08+UwS4++6qChL+mJVcMxUSgyhu0w4wnMqCtOlbtvPdRSjpeGHkP5+bOpyLZn1toZVmlBz9O27vQ50MmEcCYwuoooZY+tA82D+KB3obAIcoevDP9oL1s3Gv7UcpG0U6seSTUTXJEGCDXHPElrh9Y1NTBR061ed1zHAAAAFQDXhGQFVj8h/awXHwYU5tVlDQa7nwAAAIEAhz7LSokBmhKhRydWGs7M2GiOvl9deD3lt/I3i/Y9fEhHg9dl8Z8/abpbPDSxdXnaZ6MJdbg3C7mLKRHd7FGJyRqcvASxjOyKEdVdfjXAe6fu++qiQXBcv+EYX4m+DgK5zFYp9oLBfybR5DrFr4WJh45xUarDXRRI/mWWYZgxbkAAAACACy0ptv0iD5VX/o3pS5z5tyN7BZGnhGy7sVN/2s9OvtFniTvSksR38GyjhqCPqAl+wKQ6fKBvQt/F+vzGGCNqb60nlFMJE0Iw32zWRGQG91RIOLr0dxNlVUax4dsaw9GOcYZP4/cMOAJEOJdnoVG+m1a4ooW9RfGRLW0lxrFXPmI= c-dsa";
const ED25519_CERT: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIDj0VEHDtK9wx2MVIs0G43jt6arG7a5WMgIeU2m9BQYkAAAAIGonXZjcbdZmrOTEjWjEvFbknZ+7koYWyE/jQtj3his+AAAAAAAAAAUAAAABAAAAAmlkAAAABQAAAAFwAAAAAAAAAAD//////////wAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIHR4AWma/3IJvBOT+tahyRJLHUH5tf9+jcmKFa2hSzXjAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEC/qqlLyMrCl8j6pvF2phV01ACVivWgfCuCeUAC+wcNM0RE48qSjiXfSoORZaLJZaUfFyDJCY6LTdT7vP/vcV4M c-ed25519";

#[test]
fn fingerprints_match_ssh_keygen() {
    for (line, fp, ty, comment) in [
        (ED25519, ED25519_FP, "ssh-ed25519", "c-ed25519"),
        (P256, P256_FP, "ecdsa-sha2-nistp256", "c-ecdsab256"),
        (P384, P384_FP, "ecdsa-sha2-nistp384", "c-ecdsab384"),
        (P521, P521_FP, "ecdsa-sha2-nistp521", "c-ecdsab521"),
        (RSA2048, RSA2048_FP, "ssh-rsa", "c-rsab2048"),
        (SEED_RSA, SEED_RSA_FP, "ssh-rsa", ""),
    ] {
        let k = ParsedKey::parse(line).unwrap();
        assert_eq!(k.fingerprint, fp, "{ty}");
        assert_eq!(k.algorithm, ty);
        assert_eq!(k.comment, comment);
        assert_eq!(fingerprint_of_blob(&k.blob), fp);
        assert_eq!(sha256_of_fingerprint(fp), Some(k.sha256));
        assert_eq!(sha256(&k.blob), k.sha256);
        // `openssh` is the line without its comment.
        let expected: Vec<&str> = line.split(' ').take(2).collect();
        assert_eq!(k.openssh, expected.join(" "));
        assert_eq!(k.to_line(), line);
        assert_eq!(ParsedKey::from_blob(&k.blob).unwrap().openssh, k.openssh);
        assert_eq!(ParsedKey::from_ssh_key(k.key_data()).unwrap().blob, k.blob);
    }
}

#[test]
fn whitespace_and_comments() {
    let k = ParsedKey::parse(ED25519).unwrap();
    let parts: Vec<&str> = ED25519.split(' ').collect();
    for line in [
        format!("{}\n", ED25519),
        format!("  {}  {}   \r\n", parts[0], parts[1]),
        format!("{}   {}   a comment  with spaces ", parts[0], parts[1]),
        format!("{} {} ünïcödé", parts[0], parts[1]),
    ] {
        let p = ParsedKey::parse(&line).unwrap();
        assert_eq!(p.openssh, k.openssh, "{line:?}");
        assert_eq!(p.fingerprint, k.fingerprint);
    }
    let p = ParsedKey::parse(&format!("{} {}   a comment  x ", parts[0], parts[1])).unwrap();
    assert_eq!(p.comment, "a comment  x");
}

#[test]
fn refusals() {
    let parts: Vec<&str> = ED25519.split(' ').collect();
    let (ty, b64) = (parts[0], parts[1]);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed"),
        (ty.to_owned(), "malformed"),
        (format!("{ty} "), "malformed"),
        (format!("{ty}\t{b64}"), "control"),
        (format!("{ty} {b64} a\nssh-ed25519 {b64}"), "control"),
        (format!("{ty} {b64} \u{7f}"), "control"),
        (format!("{ty} {b64} \u{85}"), "control"),
        (format!("command=\"true\" {ty} {b64}"), "unknown"),
        (format!("ssh-foo {b64}"), "unknown"),
        (format!("{ty} {}", &b64[..b64.len() - 1]), "base64"),
        (
            P256.trim_end_matches(" c-ecdsab256")
                .trim_end_matches('=')
                .to_owned(),
            "base64",
        ),
        (format!("{ty} {b64}="), "base64"),
        (format!("{ty} !{b64}"), "base64"),
        (format!("ssh-rsa {b64}"), "mismatch"),
        (format!("{ty} {b64}{}", " x".repeat(MAX_LINE)), "long"),
        (RSA1024.to_owned(), "rsa"),
        (DSA.to_owned(), "dsa"),
        (ED25519_CERT.to_owned(), "cert"),
    ];
    for (line, why) in cases {
        let err = ParsedKey::parse(&line).unwrap_err();
        let ok = match why {
            "malformed" => matches!(err, SshError::Malformed),
            "control" => matches!(err, SshError::ControlCharacter),
            "unknown" => matches!(err, SshError::UnknownType(_)),
            "base64" => matches!(err, SshError::Base64),
            "mismatch" => matches!(err, SshError::TypeMismatch { .. }),
            "long" => matches!(err, SshError::TooLong { .. }),
            "rsa" => matches!(err, SshError::RsaSize { bits: 1024, .. }),
            "dsa" => matches!(err, SshError::Dsa),
            "cert" => matches!(err, SshError::Certificate),
            _ => unreachable!(),
        };
        assert!(ok, "{why}: {line:.80} → {err:?}");
    }
}

/// A blob with the right type but a wrong body: a cut key, trailing bytes, a point off the
/// curve, a non-canonical RSA exponent.
#[test]
fn bad_blobs() {
    let ed = ParsedKey::parse(ED25519).unwrap().blob;
    let mut trailing = ed.clone();
    trailing.push(0);
    for blob in [&ed[..ed.len() - 1], &trailing[..], &[][..], &[0, 0, 0][..]] {
        assert!(ParsedKey::from_blob(blob).is_err());
    }
    // Flip the last coordinate byte of the P-256 point: off the curve.
    let mut p = ParsedKey::parse(P256).unwrap().blob;
    *p.last_mut().unwrap() ^= 1;
    assert!(matches!(
        ParsedKey::from_blob(&p),
        Err(SshError::Encoding(_))
    ));
    // An even RSA exponent.
    let rsa = ParsedKey::parse(RSA2048).unwrap().blob;
    let mut even = rsa.clone();
    assert_eq!(&even[11..18], &[0, 0, 0, 3, 1, 0, 1]); // "ssh-rsa", e = 65537
    even[17] = 2;
    assert!(ParsedKey::from_blob(&even).is_err());
    // A blob that names a certificate type.
    let mut cert = Vec::new();
    crate::wire::put_string(&mut cert, b"ssh-ed25519-cert-v01@openssh.com");
    assert!(matches!(
        ParsedKey::from_blob(&cert),
        Err(SshError::Certificate)
    ));
}

/// FIDO keys (`ssh-keygen -t ed25519-sk`): the Ed25519 key and the application string.
#[test]
fn security_key() {
    let ed = ParsedKey::parse(ED25519).unwrap();
    let mut blob = Vec::new();
    crate::wire::put_string(&mut blob, b"sk-ssh-ed25519@openssh.com");
    crate::wire::put_string(&mut blob, &ed.blob[19..]);
    crate::wire::put_string(&mut blob, b"ssh:");
    let line = format!("sk-ssh-ed25519@openssh.com {}", STANDARD.encode(&blob));
    let k = ParsedKey::parse(&line).unwrap();
    assert_eq!(k.algorithm, "sk-ssh-ed25519@openssh.com");
    assert_eq!(k.blob, blob);
}

#[test]
fn fingerprint_strings() {
    assert!(sha256_of_fingerprint(ED25519_FP).is_some());
    for bad in [
        "",
        "SHA256:",
        "sha256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ",
        "MD5:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ",
        "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83C",
        "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ=",
        "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CR", // unused bits set
        "SHA256:wLoTV-W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ",
    ] {
        assert_eq!(sha256_of_fingerprint(bad), None, "{bad}");
    }
}

proptest! {
    #[test]
    fn fingerprint_round_trip(h in any::<[u8; 32]>()) {
        let fp = fingerprint_of_sha256(&h);
        prop_assert_eq!(fp.len(), 50);
        prop_assert_eq!(sha256_of_fingerprint(&fp), Some(h));
    }

    /// Arbitrary text never panics the parser, and whatever parses re-parses to itself.
    #[test]
    fn parse_never_panics(line in "\\PC{0,200}") {
        if let Ok(k) = ParsedKey::parse(&line) {
            prop_assert_eq!(ParsedKey::parse(&k.openssh).unwrap(), ParsedKey { comment: String::new(), ..k });
        }
    }

    /// Mutated blobs of a real key: never a panic; anything accepted is canonical.
    #[test]
    fn mutated_blobs(i in 0usize..51, b in any::<u8>()) {
        let mut blob = ParsedKey::parse(ED25519).unwrap().blob;
        blob[i] = b;
        if let Ok(k) = ParsedKey::from_blob(&blob) {
            prop_assert_eq!(k.blob, blob);
        }
    }
}
