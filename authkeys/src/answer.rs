//! What may be printed for sshd: only lines sshd cannot misread. A data plane's answer is
//! re-checked line by line (a key line, optionally with an `expiry-time` option; a principal
//! name), and a cached answer is filtered again against the clock and the cached KRL before it
//! is served (fail closed on revocation).

use sigil_ssh::key::ParsedKey;
use sigil_ssh::krl::Krl;

/// One authorized_keys line of an answer.
#[derive(Debug)]
pub struct KeyLine<'a> {
    pub line: &'a str,
    /// `expiry-time` (Unix seconds), when the line carries one.
    pub expires_at: Option<i64>,
    pub key: ParsedKey,
}

/// A line `[expiry-time="YYYYMMDDHHMMSSZ" ]type base64`; anything else is `None`.
pub fn key_line(line: &str) -> Option<KeyLine<'_>> {
    let (expires_at, key) = match line.strip_prefix("expiry-time=\"") {
        Some(rest) => {
            let (time, key) = rest.split_once("\" ")?;
            (
                Some(sigil_shared::time::parse_generalized_time(time.as_bytes())?),
                key,
            )
        }
        None => (None, line),
    };
    let key = ParsedKey::parse(key).ok()?;
    Some(KeyLine {
        line,
        expires_at,
        key,
    })
}

/// The lines of `text` sshd may see: valid key lines, not expired at `now`, not revoked by
/// `krl`. Returns the answer and how many lines were dropped.
pub fn keys(text: &str, krl: Option<&Krl>, now: i64) -> (String, usize) {
    let mut out = String::new();
    let mut dropped = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match key_line(line) {
            Some(k)
                if k.expires_at.is_none_or(|t| t > now)
                    && !krl.is_some_and(|krl| krl.revokes_key(&k.key.sha256)) =>
            {
                out.push_str(k.line);
                out.push('\n');
            }
            _ => dropped += 1,
        }
    }
    (out, dropped)
}

/// A principal sshd may compare with a certificate's: printable, no spaces, ≤ 256 bytes.
fn valid_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && p.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// The principal lines of `text`; the count of lines dropped.
pub fn principals(text: &str) -> (String, usize) {
    let mut out = String::new();
    let mut dropped = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if valid_principal(line) {
            out.push_str(line);
            out.push('\n');
        } else {
            dropped += 1;
        }
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn key_lines_are_checked_and_expired_ones_dropped() {
        let text = format!(
            "{KEY}\nexpiry-time=\"20991231235959Z\" {KEY}\nexpiry-time=\"20000101000000Z\" {KEY}\ncommand=\"/bin/sh\" {KEY}\n# comment\nnot a key\n"
        );
        let (out, dropped) = keys(&text, None, 1_700_000_000);
        assert_eq!(
            out,
            format!("{KEY}\nexpiry-time=\"20991231235959Z\" {KEY}\n")
        );
        assert_eq!(dropped, 4);
        assert_eq!(keys("", None, 0), (String::new(), 0));
    }

    #[test]
    fn principal_lines() {
        let (out, dropped) = principals("alice\nroot ops\nweb-admins\n\"x\"\n");
        assert_eq!(out, "alice\nweb-admins\n");
        assert_eq!(dropped, 2);
    }
}
