//! What the helper did, for the operator: to syslog (facility auth, RFC 3164 over `/dev/log`)
//! or stderr. sshd discards the command's stderr unless debugging, so syslog is the default;
//! nothing is ever written to stdout but the answer.

use std::os::unix::net::UnixDatagram;

use crate::config::LogTarget;

#[derive(Debug)]
pub struct Logger {
    syslog: Option<UnixDatagram>,
}

/// Facility `auth` (4), RFC 3164.
const FACILITY: u8 = 4;

impl Logger {
    pub fn new(target: LogTarget) -> Self {
        let syslog = match target {
            LogTarget::Stderr => None,
            LogTarget::Syslog => UnixDatagram::unbound()
                .ok()
                .filter(|s| s.connect("/dev/log").is_ok()),
        };
        Self { syslog }
    }

    pub fn stderr() -> Self {
        Self { syslog: None }
    }

    fn emit(&self, severity: u8, level: &str, message: &str) {
        // One line: control characters from anywhere (a user name, an error) are replaced.
        let message: String = message
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        if let Some(sock) = &self.syslog {
            let line = format!(
                "<{}>sigil-authkeys[{}]: {level}: {message}",
                FACILITY * 8 + severity,
                std::process::id()
            );
            if sock.send(line.as_bytes()).is_ok() {
                return;
            }
        }
        eprintln!("sigil-authkeys: {level}: {message}");
    }

    pub fn info(&self, m: &str) {
        self.emit(6, "info", m);
    }

    pub fn warn(&self, m: &str) {
        self.emit(4, "warning", m);
    }

    pub fn error(&self, m: &str) {
        self.emit(3, "error", m);
    }
}
