//! The SSH key service's lookup (docs/SSH.md): `GET {prefix}/api/authkeys?username=<u>&host=<h>`,
//! what `sigil-authkeys` asks for every login attempt, over (user, host) pairs
//! ([`SshPairs`]: those `sigil-fill-replica --ssh` writes for its synthetic directory, or any
//! list). Every path is built before the run.
//!
//! A success is HTTP 200, `text/plain`, and a body of authorized_keys lines only (none is a
//! valid answer: the user has no key for that host): each line `type base64`, optionally
//! preceded by the `expiry-time="YYYYMMDDHHMMSSZ" ` option the data plane adds to expiring
//! keys, with a known key type whose base64 decodes to a blob of that type, and `\n` after
//! every line. Anything else in the body is `content`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{expect_content_type, expect_status, Scenario};
use crate::corpus::ssh_pairs::SshPairs;
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

/// `GET /api/authkeys?username=…&host=…` over prebuilt paths.
pub struct Authkeys {
    paths: Vec<String>,
    source: String,
}

impl Authkeys {
    /// One item per pair; at least one.
    pub fn new(pairs: &SshPairs) -> Self {
        assert!(!pairs.pairs.is_empty(), "authkeys needs at least one pair");
        let paths = pairs
            .pairs
            .iter()
            .map(|p| {
                format!(
                    "/api/authkeys?username={}&host={}",
                    query_escape(&p.username),
                    query_escape(&p.host)
                )
            })
            .collect();
        let source = pairs
            .header
            .iter()
            .find(|(k, _)| k == "source")
            .map_or_else(|| "pairs file".to_string(), |(_, v)| v.clone());
        Authkeys { paths, source }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Public key types the data plane may serve (sigil-ssh's `KEY_TYPES`).
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Whether `line` (without its `\n`) is an authorized_keys line as the data plane writes them.
pub fn key_line(line: &[u8]) -> bool {
    let line = match line.strip_prefix(b"expiry-time=\"") {
        Some(rest) => {
            // 14 digits, `Z`, the closing quote and one space.
            if rest.len() < 17
                || !rest[..14].iter().all(u8::is_ascii_digit)
                || &rest[14..17] != b"Z\" "
            {
                return false;
            }
            &rest[17..]
        }
        None => line,
    };
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (ty, b64) = (&line[..space], &line[space + 1..]);
    if !KEY_TYPES.iter().any(|t| t.as_bytes() == ty) {
        return false;
    }
    // The blob starts with the key type as an SSH string (a 4-byte length, then the name).
    // Room for the largest key served (RSA-16384: about 2.1 KB).
    let mut blob = [0u8; 4096];
    match STANDARD.decode_slice(b64, &mut blob) {
        Ok(n) => {
            n >= 4 + ty.len()
                && blob[..4] == (ty.len() as u32).to_be_bytes()
                && &blob[4..4 + ty.len()] == ty
        }
        Err(_) => false,
    }
}

/// Whether `body` is zero or more key lines, each ended by `\n`.
pub fn key_lines(body: &[u8]) -> bool {
    match body.strip_suffix(b"\n") {
        None => body.is_empty(),
        Some(lines) => lines.split(|&b| b == b'\n').all(key_line),
    }
}

impl Scenario for Authkeys {
    fn name(&self) -> &'static str {
        "authkeys"
    }

    fn describe(&self) -> String {
        format!(
            "SSH /api/authkeys, {} (user, host) pairs ({})",
            self.paths.len(),
            self.source
        )
    }

    fn items(&self) -> u64 {
        self.paths.len() as u64
    }

    fn request(&self, item: u64) -> Request<'_> {
        Request {
            method: "GET",
            path: self.paths[item as usize].as_str().into(),
            headers: &[],
            body: (&[][..]).into(),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        expect_status(resp, 200)?;
        expect_content_type(resp, "text/plain")?;
        if key_lines(resp.body) {
            Ok(())
        } else {
            Err(ErrorKind::Content)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::ssh_pairs::Pair;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn pairs(list: &[(&str, &str)]) -> SshPairs {
        SshPairs {
            header: vec![("source".into(), "test".into())],
            pairs: list
                .iter()
                .map(|(u, h)| Pair {
                    username: u.to_string(),
                    host: h.to_string(),
                    expected: None,
                })
                .collect(),
        }
    }

    fn text(body: &[u8]) -> Response<'_> {
        Response {
            status: 200,
            content_type: Some(b"text/plain; charset=utf-8"),
            body,
        }
    }

    #[test]
    fn requests() {
        let s = Authkeys::new(&pairs(&[("alice", "web-01"), ("b$ob", "db.example.net")]));
        assert_eq!((s.name(), s.items()), ("authkeys", 2));
        let r = s.request(0);
        assert_eq!(
            (r.method, &*r.path),
            ("GET", "/api/authkeys?username=alice&host=web-01")
        );
        assert!(r.body.is_empty() && r.headers.is_empty());
        assert_eq!(
            s.request(1).path,
            "/api/authkeys?username=b%24ob&host=db.example.net"
        );
        assert!(s.describe().contains("2 (user, host) pairs (test)"));
    }

    #[test]
    fn checks() {
        let s = Authkeys::new(&pairs(&[("alice", "web-01")]));
        let two = format!("{ED}\nexpiry-time=\"20301231000000Z\" {ED}\n");
        assert_eq!(s.check(&text(two.as_bytes())), Ok(()));
        assert_eq!(s.check(&text(b"")), Ok(()));
        for bad in [
            ED.to_string(),                                 // no newline
            format!("{ED}\n\n"),                            // an empty line
            format!("command=\"x\" {ED}\n"),                // another option
            format!("expiry-time=\"2030\" {ED}\n"),         // a short time
            format!("{ED} comment\n"),                      // trailing text
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP\n".to_string(), // unknown type
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
                .to_string(), // blob of another type
            "ssh-ed25519 !!!\n".to_string(),
            "not found\n".to_string(),
        ] {
            assert_eq!(
                s.check(&text(bad.as_bytes())),
                Err(ErrorKind::Content),
                "{bad:?}"
            );
        }
        let not_found = Response {
            status: 400,
            ..text(b"bad username\n")
        };
        assert_eq!(s.check(&not_found), Err(ErrorKind::HttpStatus));
        let json = Response {
            content_type: Some(b"application/json"),
            ..text(b"")
        };
        assert_eq!(s.check(&json), Err(ErrorKind::ContentType));
    }

    #[test]
    fn keys_of_the_fill_are_key_lines() {
        let m = crate::fill::ssh::SshModel {
            users: 3,
            keys: 9,
            pairs: 3,
            ..crate::fill::ssh::SshModel::target(1_700_000_000)
        };
        for k in 0..9 {
            assert!(key_line(m.key_entry(k, 0).openssh.as_bytes()));
        }
    }
}
