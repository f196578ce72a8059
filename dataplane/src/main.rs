//! `sigil-dp`: parses the flags, loads the configuration (`sigil_dataplane::setup`), sets up
//! the log (`sigil_configfile::logging`), runs the thread-per-core data plane. Exit status 64 (EX_USAGE) for bad
//! configuration, before any port is bound.

use std::process::ExitCode;

use clap::Parser;
use sigil_dataplane::setup::{self, Flags};

const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let flags = match Flags::try_parse() {
        Ok(f) => f,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    sigil_configfile::logging::init(flags.log_format);
    let loaded = match setup::load(&flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            for message in e.messages() {
                eprintln!("sigil-dp: configuration error: {message}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    if flags.validate {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    match sigil_dataplane::runtime::run(loaded) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigil-dp: {e}");
            ExitCode::FAILURE
        }
    }
}
