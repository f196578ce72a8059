//! The rules the data plane answers sshd's questions with (`/api/authkeys`, `/api/authprinc`),
//! as pure functions over the replicated state, and the checks of their parameters.
//!
//! Facts from sshd(8) / sshd_config(5) these rules serve:
//! - `AuthorizedKeysCommand` output is read as an authorized_keys file: one key per line, and
//!   a line may start with options (`command="…"`, `from="…"`), so output must never contain
//!   anything but the keys meant, one `type base64` per line.
//! - `AuthorizedPrincipalsCommand` output is read as an authorized principals file: one
//!   principal per line, `#` starts a comment, and a line may carry options before the
//!   principal, so a principal with whitespace would be read as options.
//! - Tokens: `%u` the user name, `%f` the fingerprint of the key or (for a certificate) of the
//!   certified key, `%s` the certificate's serial (decimal).
//! - A key in a KRL is revoked by SHA-256 of its blob; a certificate by its CA and serial or
//!   key ID (PROTOCOL.krl).

use crate::cert::CertInfo;
use crate::key::sha256_of_fingerprint;
use crate::krl::Krl;
use sigil_shared::replication::{SshCertEntry, SshKeyEntry, SshUserState};

/// Longest user name ([`valid_username`]): useradd's (and utmp's) 32.
pub const MAX_USERNAME: usize = 32;
/// Longest host name (RFC 1123 §2.1 via RFC 1035 §2.3.4).
pub const MAX_HOSTNAME: usize = 253;
/// Longest principal ([`valid_principal`]).
pub const MAX_PRINCIPAL: usize = 255;
/// Longest group name ([`valid_group_name`]).
pub const MAX_GROUP: usize = 64;

/// Whether `key` is to be offered to sshd on a host in `host_groups` at `now`: not expired
/// (`now < expires_at`), not revoked by SHA-256 in `krl` (a fingerprint that does not decode
/// counts as revoked), and valid for one of the host's groups (a key with no host groups is
/// valid nowhere). Says nothing about the user: see [`authorized_keys`].
pub fn key_allowed(key: &SshKeyEntry, host_groups: &[String], krl: Option<&Krl>, now: i64) -> bool {
    key.expires_at.is_none_or(|t| now < t)
        && shares_group(&key.host_groups, host_groups)
        && match krl {
            None => true,
            Some(krl) => {
                sha256_of_fingerprint(&key.fingerprint).is_some_and(|h| !krl.revokes_key(&h))
            }
        }
}

/// The keys of `user` that sshd may accept on a host in `host_groups` at `now`: none when the
/// account is locked, otherwise those [`key_allowed`] passes, in the user's order.
pub fn authorized_keys<'a>(
    user: &'a SshUserState,
    host_groups: &'a [String],
    krl: Option<&'a Krl>,
    now: i64,
) -> impl Iterator<Item = &'a SshKeyEntry> + 'a {
    user.keys
        .iter()
        .filter(move |k| !user.locked && key_allowed(k, host_groups, krl, now))
}

/// [`authorized_keys`] narrowed to the key sshd is asking about (`%f`, Keyper's
/// `fingerprint`): only keys whose fingerprint decodes to `sha256`; all of them when `None`.
/// Since [`key_allowed`] checks each key's own fingerprint against the KRL, a revoked
/// `fingerprint` gets nothing.
pub fn authorized_keys_matching<'a>(
    user: &'a SshUserState,
    host_groups: &'a [String],
    sha256: Option<&'a [u8; 32]>,
    krl: Option<&'a Krl>,
    now: i64,
) -> impl Iterator<Item = &'a SshKeyEntry> + 'a {
    authorized_keys(user, host_groups, krl, now).filter(move |k| {
        sha256.is_none_or(|want| sha256_of_fingerprint(&k.fingerprint).as_ref() == Some(want))
    })
}

/// Latest time [`push_authorized_keys`] writes as `expiry-time` (9999-12-31T23:59:59Z, the
/// last second a four-digit year holds).
pub const MAX_EXPIRY_TIME: i64 = 253_402_300_799;

/// authorized_keys text: each key's `openssh` and `\n`; the empty string when there are none.
/// See [`push_authorized_keys`].
pub fn render_authorized_keys<'a>(keys: impl IntoIterator<Item = &'a SshKeyEntry>) -> String {
    let mut out = String::new();
    push_authorized_keys(keys, &mut out);
    out
}

/// Appends one authorized_keys line per key to `out`: `type base64`, prefixed with the
/// option `expiry-time="YYYYMMDDHHMMSSZ" ` (UTC) when the key has an expiry, so that sshd
/// (sshd(8) AUTHORIZED_KEYS FILE FORMAT) and a cache of this answer refuse the key after it
/// too. A time outside 1970..=9999 is written as the nearest one inside, which for any time
/// past 9999 is earlier than the real expiry (never later). A key whose `openssh` is not
/// exactly `type base64` (one space, no control characters, key type and base64 characters
/// only) is left out, so nothing stored can smuggle other options or extra lines into sshd.
pub fn push_authorized_keys<'a>(keys: impl IntoIterator<Item = &'a SshKeyEntry>, out: &mut String) {
    for k in keys {
        if !safe_key_line(&k.openssh) {
            continue;
        }
        if let Some(t) = k.expires_at {
            let time = sigil_shared::time::generalized_time(t.clamp(0, MAX_EXPIRY_TIME));
            out.push_str("expiry-time=\"");
            // Digits and `Z`: always ASCII.
            out.push_str(std::str::from_utf8(&time).unwrap_or("19700101000000Z"));
            out.push_str("\" ");
        }
        out.push_str(&k.openssh);
        out.push('\n');
    }
}

/// `type base64`: a key type of `[a-z0-9@.-]`, one space, base64 characters.
fn safe_key_line(line: &str) -> bool {
    let Some((ty, b64)) = line.split_once(' ') else {
        return false;
    };
    !ty.is_empty()
        && ty
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'@' | b'.' | b'-'))
        && !b64.is_empty()
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// The principals sshd may accept for `user` on a host in `host_groups` (Keyper's
/// `authprinc`): none when the account is locked; without a serial, the user's principals if
/// the user belongs to one of the host's groups; with a serial, the user's principals only if
/// one of the user's certificates has that serial,
/// is valid at `now` (`valid_after ≤ now < valid_before`), shares a group with the host, has
/// the certified key `fingerprint` when one is given, and is not revoked by `krl` (by serial or
/// key ID under `ca_blob`, the user CA's key). Invalid principals ([`valid_principal`]) are
/// left out.
pub fn principals(
    user: &SshUserState,
    host_groups: &[String],
    serial: Option<u64>,
    fingerprint: Option<&str>,
    ca_blob: &[u8],
    krl: Option<&Krl>,
    now: i64,
) -> Vec<String> {
    if user.locked {
        return Vec::new();
    }
    let ok = match serial {
        None => shares_group(&user.groups, host_groups),
        Some(serial) => user.certs.iter().any(|c| {
            c.serial == serial
                && cert_allowed(c, host_groups, now)
                && fingerprint.is_none_or(|f| f == c.fingerprint)
                && !krl.is_some_and(|krl| cert_revoked(krl, c, ca_blob))
        }),
    };
    if !ok {
        return Vec::new();
    }
    user.principals
        .iter()
        .filter(|p| valid_principal(p))
        .cloned()
        .collect()
}

fn cert_allowed(c: &SshCertEntry, host_groups: &[String], now: i64) -> bool {
    c.valid_after <= now && now < c.valid_before && shares_group(&c.host_groups, host_groups)
}

/// As OpenSSH checks a certificate: its plain key's SHA-256 (an undecodable fingerprint counts
/// as revoked), its serial, and its key ID — the last only when the KRL revokes any key ID
/// under this CA (or all CAs), as the key ID is read from the stored certificate (an
/// unreadable one counts as revoked).
fn cert_revoked(krl: &Krl, c: &SshCertEntry, ca_blob: &[u8]) -> bool {
    if sha256_of_fingerprint(&c.fingerprint).is_none_or(|h| krl.revokes_key(&h))
        || krl.revokes_serial(ca_blob, c.serial)
    {
        return true;
    }
    if !krl.has_key_ids(ca_blob) {
        return false;
    }
    match CertInfo::parse(&c.openssh) {
        Ok(info) => krl.revokes_key_id(ca_blob, &info.key_id),
        Err(_) => true,
    }
}

/// The certificates of a user or host to hand out (Keyper's `usercert` / `hostcert`): those
/// not expired at `now` (`now < valid_before`; one not yet valid is handed out, as Keyper
/// does), with entry id `keyid` (Keyper's `keyid`, [`SshCertEntry::key_id`]) and certified key
/// `sha256` when given, and not revoked by `krl` under `ca_blob` (the issuing CA's key), by
/// the same checks as [`principals`].
pub fn certificates<'a>(
    certs: &'a [SshCertEntry],
    keyid: Option<&'a str>,
    sha256: Option<&'a [u8; 32]>,
    ca_blob: &'a [u8],
    krl: Option<&'a Krl>,
    now: i64,
) -> impl Iterator<Item = &'a SshCertEntry> + 'a {
    certs.iter().filter(move |c| {
        now < c.valid_before
            && keyid.is_none_or(|id| id == c.key_id)
            && sha256
                .is_none_or(|want| sha256_of_fingerprint(&c.fingerprint).as_ref() == Some(want))
            && !krl.is_some_and(|krl| cert_revoked(krl, c, ca_blob))
    })
}

/// Appends each certificate's line and `\n` to `out`. Only lines `type base64 [comment]`
/// whose type is an OpenSSH certificate type (`…-cert-v01@openssh.com`), whose second field
/// is base64 and which hold no control character are written.
pub fn push_certificates<'a>(certs: impl IntoIterator<Item = &'a SshCertEntry>, out: &mut String) {
    for c in certs {
        let line = c.openssh.as_str();
        let mut fields = line.splitn(3, ' ');
        let (Some(ty), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        if ty.ends_with("-cert-v01@openssh.com")
            && safe_key_line(&line[..ty.len() + 1 + b64.len()])
            && !line.chars().any(char::is_control)
        {
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// Authorized principals text: one principal and `\n` per line, empty when none; invalid
/// principals left out.
pub fn render_principals(principals: &[String]) -> String {
    let mut out = String::new();
    for p in principals.iter().filter(|p| valid_principal(p)) {
        out.push_str(p);
        out.push('\n');
    }
    out
}

fn shares_group(a: &[String], b: &[String]) -> bool {
    a.iter().any(|g| b.contains(g))
}

/// A login name as useradd(8) accepts it by default (`NAME_REGEX`
/// `^[a-z_][a-z0-9_-]*[$]?$`), with `.` allowed after the first character (shadow ≥ 4.14,
/// Debian's adduser), 1 to 32 bytes.
pub fn valid_username(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.strip_suffix(b"$").unwrap_or(b);
    !body.is_empty()
        && b.len() <= MAX_USERNAME
        && matches!(body[0], b'a'..=b'z' | b'_')
        && body[1..]
            .iter()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.'))
}

/// A host name (RFC 1123 §2.1): dot-separated labels of 1 to 63 letters, digits and hyphens,
/// a hyphen neither first nor last, at most 253 bytes, no trailing dot.
pub fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HOSTNAME
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// `SHA256:` and 43 base64 characters that decode to 32 bytes (sshd's `%f`).
pub fn valid_fingerprint(s: &str) -> bool {
    sha256_of_fingerprint(s).is_some()
}

/// A certificate serial as sshd prints `%s`: decimal, no sign, no leading zeros, ≤ 2^64−1.
pub fn parse_serial(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    s.parse().ok()
}

/// Whether [`parse_serial`] reads `s`.
pub fn valid_serial(s: &str) -> bool {
    parse_serial(s).is_some()
}

/// A principal Sigil signs and serves: 1 to 255 bytes of ASCII letters, digits and
/// `_ . @ + $ -` (user names, host names, e-mail-like names); no whitespace, commas,
/// wildcards or `#`, which the principals file format or `ssh-keygen -n` would read otherwise.
pub fn valid_principal(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PRINCIPAL
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'+' | b'$' | b'-')
        })
}

/// A group name (Keyper's group `cn`, e.g. `demo_servers`, `KeyperAdmins`): 1 to 64 bytes of
/// ASCII letters, digits, `_ . -`, starting with a letter, digit or `_`.
pub fn valid_group_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_GROUP
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests;
