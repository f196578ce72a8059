//! The log both binaries write to stderr, shaped for log collectors (docs/OPERATIONS.md,
//! "Logs"): `text` (one human-readable line per event) or `json` (one JSON object per line),
//! chosen with `--log-format` or `SIGIL_LOG_FORMAT`; ANSI colours only when stderr is a
//! terminal and `NO_COLOR` is unset; the level filter from `RUST_LOG` (default `info`).

use std::io::IsTerminal;
use std::str::FromStr;

/// The shape of the log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (tracing's default formatter).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields at the top level, and the enclosing spans (`span`, `spans`).
    Json,
}

/// A `--log-format`/`SIGIL_LOG_FORMAT` value other than `text` or `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?} (expected text or json)")]
pub struct LogFormatError(pub String);

impl FromStr for LogFormat {
    type Err = LogFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(LogFormatError(s.to_owned())),
        }
    }
}

/// Whether to colour the log: only for a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>).
pub fn use_ansi(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global tracing subscriber writing `format` to stderr, filtered by `RUST_LOG`
/// (default `info`). Call once, before anything logs.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let ansi = use_ansi(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
            builder.with_ansi(ansi).init();
        }
        // JSON never carries colour codes.
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn formats_parse() {
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        let e = "logfmt".parse::<LogFormat>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown log format \"logfmt\" (expected text or json)"
        );
        assert_eq!(LogFormat::default(), LogFormat::Text);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_ansi(true, None));
        assert!(use_ansi(true, Some(OsStr::new(""))));
        assert!(!use_ansi(true, Some(OsStr::new("1"))));
        assert!(!use_ansi(false, None));
        assert!(!use_ansi(false, Some(OsStr::new("1"))));
    }
}
