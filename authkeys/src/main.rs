//! `sigil-authkeys [--config FILE] USER [FINGERPRINT]` (keys) or
//! `sigil-authkeys --principals USER FINGERPRINT SERIAL [KEY_ID]`: parse, load, run, print.
//! Exit 0 with the answer (possibly empty), 1 when there is none, 64 for a bad command line or
//! configuration; nothing but the answer is ever written to stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sigil_authkeys::config::{AuthkeysConfig, LogTarget, DEFAULT_PATH};
use sigil_authkeys::log::Logger;
use sigil_authkeys::{run, Mode};

const EX_USAGE: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "sigil-authkeys",
    version,
    about = "sshd helper: authorized keys and principals from Sigil"
)]
struct Args {
    /// Configuration file.
    #[arg(long, env = "SIGIL_AUTHKEYS_CONFIG", default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Principals mode (AuthorizedPrincipalsCommand … %u %f %s [%i]).
    #[arg(long)]
    principals: bool,
    /// %u, then %f (and %s, %i in principals mode).
    #[arg(required = true, num_args = 1..=4)]
    args: Vec<String>,
}

fn usage(log: &Logger, message: &str) -> ExitCode {
    log.error(message);
    ExitCode::from(EX_USAGE)
}

fn main() -> ExitCode {
    let Ok(args) = Args::try_parse() else {
        return usage(&Logger::stderr(), "usage: sigil-authkeys [--config FILE] USER [FINGERPRINT] | --principals USER FINGERPRINT SERIAL [KEY_ID]");
    };
    let cfg: AuthkeysConfig = match sigil_configfile::read_toml(&args.config) {
        Ok(c) => c,
        Err(e) => return usage(&Logger::new(LogTarget::Syslog), &e.to_string()),
    };
    let log = Logger::new(cfg.log);
    let urls = match cfg.validate() {
        Ok(u) => u,
        Err(errs) => {
            return usage(
                &log,
                &format!("{}: {}", args.config.display(), errs.join("; ")),
            )
        }
    };
    let mode = match mode(&args) {
        Ok(m) => m,
        Err(e) => return usage(&log, &e),
    };
    let outcome = run(&cfg, &urls, &mode, &log);
    let mut out = std::io::stdout().lock();
    if out
        .write_all(outcome.stdout.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    ExitCode::from(outcome.exit)
}

/// The request, every argument checked before anything is sent.
fn mode(args: &Args) -> Result<Mode, String> {
    use sigil_ssh::lookup::{valid_fingerprint, valid_username};
    let user = args.args[0].clone();
    if !valid_username(&user) {
        return Err(format!("{user:?} is not a user name"));
    }
    let fingerprint = args.args.get(1).cloned();
    if let Some(f) = &fingerprint {
        if !valid_fingerprint(f) {
            return Err(format!("{f:?} is not a SHA256 fingerprint"));
        }
    }
    if !args.principals {
        if args.args.len() > 2 {
            return Err("keys mode takes USER [FINGERPRINT]".into());
        }
        return Ok(Mode::Keys { user, fingerprint });
    }
    let (Some(fingerprint), Some(serial)) = (fingerprint, args.args.get(2)) else {
        return Err("principals mode takes USER FINGERPRINT SERIAL [KEY_ID]".into());
    };
    let serial = serial
        .parse::<u64>()
        .map_err(|_| format!("{serial:?} is not a certificate serial"))?;
    let key_id = args.args.get(3).cloned();
    if key_id
        .as_ref()
        .is_some_and(|k| k.len() > 1024 || k.chars().any(char::is_control))
    {
        return Err("the key id is too long or has control characters".into());
    }
    Ok(Mode::Principals {
        user,
        fingerprint,
        serial,
        key_id,
    })
}
