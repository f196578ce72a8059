//! (user, host) pairs for the `authkeys` scenario: what sshd's helper would ask a data plane.
//! `sigil-fill-replica --ssh` writes them for its synthetic directory; any list of real
//! users and hosts works too.
//!
//! ```text
//! # sigil-load ssh pairs v1
//! # source: sigil-fill-replica (synthetic): 100000 users, …
//! user000000 host-00042.example.net 2
//! ```
//!
//! One pair a line: user name, host name and, optionally, the number of keys the answer must
//! hold (the fill knows it; [`crate::scenario::Authkeys`] does not need it). Header lines are
//! `# key: value`; other `#` lines and blank lines are ignored.

use std::io::{self, Write};
use std::path::Path;

use super::CorpusError;

/// First line of a pairs file.
pub const MAGIC: &str = "# sigil-load ssh pairs v1";

/// One lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub username: String,
    pub host: String,
    /// Keys the answer holds, when known.
    pub expected: Option<u32>,
}

/// A pairs file in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshPairs {
    pub header: Vec<(String, String)>,
    pub pairs: Vec<Pair>,
}

impl SshPairs {
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "{MAGIC}")?;
        for (k, v) in &self.header {
            writeln!(out, "# {k}: {v}")?;
        }
        for p in &self.pairs {
            match p.expected {
                Some(n) => writeln!(out, "{} {} {n}", p.username, p.host)?,
                None => writeln!(out, "{} {}", p.username, p.host)?,
            }
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<Self, CorpusError> {
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some(MAGIC) {
            return Err(CorpusError::Fill(format!(
                "not an SSH pairs file (first line must be {MAGIC:?})"
            )));
        }
        let mut out = SshPairs::default();
        for (n, line) in lines.enumerate() {
            let line = line.trim();
            if let Some(h) = line.strip_prefix('#') {
                if let Some((k, v)) = h.split_once(':') {
                    out.header.push((k.trim().into(), v.trim().into()));
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let bad = || CorpusError::Fill(format!("line {}: expected USER HOST [KEYS]", n + 2));
            let mut fields = line.split_ascii_whitespace();
            let (Some(username), Some(host)) = (fields.next(), fields.next()) else {
                return Err(bad());
            };
            let expected = match fields.next() {
                Some(n) => Some(n.parse().map_err(|_| bad())?),
                None => None,
            };
            if fields.next().is_some() {
                return Err(bad());
            }
            out.pairs.push(Pair {
                username: username.into(),
                host: host.into(),
                expected,
            });
        }
        if out.pairs.is_empty() {
            return Err(CorpusError::Empty);
        }
        Ok(out)
    }

    pub fn read(path: &Path) -> Result<Self, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The pairs file named in a `fill.json`'s `ssh` section (relative to its directory).
    pub fn from_fill_json(path: &Path) -> Result<Self, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| CorpusError::Fill(e.to_string()))?;
        let file = v["ssh"]["pairs_file"]
            .as_str()
            .ok_or_else(|| CorpusError::Fill("no ssh.pairs_file (filled without --ssh?)".into()))?;
        Self::read(&path.parent().unwrap_or(Path::new(".")).join(file))
    }

    /// Keeps only the first `n` pairs.
    pub fn limit(mut self, n: Option<u64>) -> Self {
        if let Some(n) = n {
            self.pairs
                .truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let p = SshPairs {
            header: vec![("source".into(), "test".into())],
            pairs: vec![
                Pair {
                    username: "alice".into(),
                    host: "web-01".into(),
                    expected: Some(2),
                },
                Pair {
                    username: "bob".into(),
                    host: "db.example.net".into(),
                    expected: None,
                },
            ],
        };
        let mut buf = Vec::new();
        p.write(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(SshPairs::parse(&text).unwrap(), p);
        assert_eq!(p.clone().limit(Some(1)).pairs.len(), 1);
        assert!(SshPairs::parse("alice web-01\n").is_err());
        assert!(SshPairs::parse(&format!("{MAGIC}\nalice\n")).is_err());
        assert!(SshPairs::parse(&format!("{MAGIC}\nalice web x\n")).is_err());
        assert!(SshPairs::parse(&format!("{MAGIC}\nalice web 1 2\n")).is_err());
        assert!(matches!(
            SshPairs::parse(&format!("{MAGIC}\n# x: y\n")),
            Err(CorpusError::Empty)
        ));
    }
}
