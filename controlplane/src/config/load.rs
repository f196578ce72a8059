//! The tokens of the control-plane configuration: environment overrides, then the file's
//! values with `${VAR}` expanded (the file is read and the flags applied in `crate::cli`; the
//! key-encryption key is loaded by `config::kek`).

use sigil_configfile::expand_env;

use super::CpConfig;

/// The admin and replication tokens: env (`SIGIL_ADMIN_TOKEN`, `SIGIL_REPLICATION_TOKEN`)
/// overrides the file; both are required and must be at least 16 characters.
pub fn tokens(cfg: &CpConfig) -> Result<(String, String), Vec<String>> {
    let mut errs = Vec::new();
    let mut pick = |env: &str, file: &Option<String>, what: &str| -> String {
        let v = match std::env::var(env) {
            Ok(v) => Ok(v),
            Err(_) => match file {
                Some(f) => expand_env(f).map_err(|e| e.to_string()),
                None => Err(format!("{what} is not configured: set {env}")),
            },
        };
        match v {
            Ok(v) if v.len() >= 12 => v,
            Ok(_) => {
                errs.push(format!("{what} must be at least 12 characters"));
                String::new()
            }
            Err(e) => {
                errs.push(e);
                String::new()
            }
        }
    };
    let admin = pick(
        "SIGIL_ADMIN_TOKEN",
        &cfg.admin.bearer_token,
        "admin bearer token",
    );
    let repl = pick(
        "SIGIL_REPLICATION_TOKEN",
        &cfg.replication.token,
        "replication token",
    );
    if errs.is_empty() {
        Ok((admin, repl))
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_rejects_unknown_keys_and_reads_known_ones() {
        assert!(toml::from_str::<CpConfig>("[ocsp]\nvalidity_hour = 5\n").is_err());
        let c: CpConfig = toml::from_str(
            "[replication]\nretain_records = 5\n[ocsp]\nhash_algorithms = [\"sha256\"]\n",
        )
        .unwrap();
        assert_eq!(c.replication.retain_records, 5);
        assert_eq!(c.ocsp.hash_algorithms.len(), 1);
    }
}
