//! `sigil-cp`: parse the command line, load the configuration, run the command
//! (`sigil_controlplane::cli`). Exit status 64 (EX_USAGE) for bad usage or configuration
//! (a key-encryption key the data directory's secrets were not sealed under included), before
//! any port is bound; 1 when a command fails or an audit chain does not verify.

use std::process::ExitCode;

use clap::Parser;
use sigil_controlplane::cli::{self, Cli, RunError};

const EX_USAGE: u8 = 64;

/// mimalloc rather than glibc's malloc: an issuance makes a few hundred small allocations
/// (DER, JSON, records, batches) and glibc's malloc/free took ~13 % of the control plane's
/// CPU on that path (docs/PERFORMANCE.md, "Issuance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Usage errors exit 64 like configuration errors; --help/--version exit 0.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    sigil_configfile::logging::init(cli.log_format());
    let plan = match cli::load(&cli) {
        Ok(p) => p,
        Err(errs) => {
            for e in errs.0 {
                eprintln!("sigil-cp: configuration error: {e}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    match cli::run(plan) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e @ RunError::NoCommand) => {
            eprintln!("sigil-cp: {e}");
            ExitCode::from(EX_USAGE)
        }
        Err(e) if e.is_usage() => {
            let text = e.to_string();
            let text = text.strip_prefix("configuration error: ").unwrap_or(&text);
            eprintln!("sigil-cp: configuration error: {text}");
            ExitCode::from(EX_USAGE)
        }
        Err(e) => {
            eprintln!("sigil-cp: {e}");
            ExitCode::FAILURE
        }
    }
}
