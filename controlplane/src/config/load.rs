//! The secrets of the control-plane configuration: environment overrides, then the file's
//! values with `${VAR}` expanded, or the secret files they name (the file is read and the flags
//! applied in `crate::cli`).

use std::path::Path;

use sigil_configfile::{expand_env, secret_file};
use std::sync::Arc;

use sigil_kes::{Kek, KeyWrapper};

use super::CpConfig;

/// The variable holding the key service's KEK (base64), over `[kes] kek_file`.
pub const KES_KEK_ENV: &str = "SIGIL_KES_KEK";

/// The key service's key-encryption key: `SIGIL_KES_KEK` if set, else the file `[kes]
/// kek_file` names (owner-only), else none. An error names the variable or the key.
/// With `[kes.hsm]`, the token's key instead (opened and probed now; `SIGIL_KES_KEK` and
/// `kek_file` must then be absent).
pub fn kes_kek(cfg: &CpConfig) -> Result<Option<Arc<dyn KeyWrapper>>, String> {
    let env = match std::env::var(KES_KEK_ENV) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!("{KES_KEK_ENV} is not UTF-8 base64 text"))
        }
    };
    if let Some(hsm) = &cfg.kes.hsm {
        if env.is_some() || cfg.kes.kek_file.is_some() {
            return Err(format!(
                "[kes.hsm] excludes {KES_KEK_ENV} and kes.kek_file: the key-encryption key is either in the token or not"
            ));
        }
        let kek = sigil_kes_pkcs11::HsmKek::open(hsm).map_err(|e| e.to_string())?;
        return Ok(Some(Arc::new(kek)));
    }
    Ok(kek_from(env.as_deref(), cfg.kes.kek_file.as_deref())?
        .map(|k| Arc::new(k) as Arc<dyn KeyWrapper>))
}

fn kek_from(env: Option<&str>, file: Option<&Path>) -> Result<Option<Kek>, String> {
    if let Some(text) = env {
        return Kek::parse(text)
            .map(Some)
            .map_err(|e| format!("{KES_KEK_ENV}: {e}"));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = secret_file("kes.kek_file", path).map_err(|e| e.to_string())?;
    Kek::parse(&text)
        .map(Some)
        .map_err(|e| format!("kes.kek_file: {}: {e}", path.display()))
}

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

    #[test]
    fn the_kek_comes_from_the_variable_else_the_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        std::fs::write(&file, format!("{KEK}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let from_file = kek_from(None, Some(&file)).unwrap().unwrap();
        let from_env = kek_from(Some(KEK), Some(Path::new("/nonexistent")))
            .unwrap()
            .unwrap();
        assert_eq!(from_file.id(), from_env.id());
        assert!(kek_from(None, None).unwrap().is_none());
        let e = kek_from(Some("short"), None).err().unwrap();
        assert!(e.starts_with("SIGIL_KES_KEK: "), "{e}");
        std::fs::write(&file, "not base64").unwrap();
        let e = kek_from(None, Some(&file)).err().unwrap();
        assert!(e.starts_with("kes.kek_file: "), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = kek_from(None, Some(&file)).err().unwrap();
        assert!(e.contains("kes.kek_file") && e.contains("chmod 600"), "{e}");
        let c: CpConfig = toml::from_str("[kes]\nkek_file = \"/etc/sigil/kek\"\n").unwrap();
        assert_eq!(c.kes.kek_file.as_deref(), Some(Path::new("/etc/sigil/kek")));
    }
}
