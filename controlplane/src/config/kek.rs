//! The key-encryption key (KEK): where it comes from (`SIGIL_KEK`, `[secrets] kek_file`,
//! `[secrets.hsm]`, their older `[kes]` names, or the default file beside the data
//! directory), loading it, and creating the default file (`sigil-cp init`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigil_configfile::secret_file;
use sigil_kes::{Kek, KeyWrapper};
use sigil_kes_pkcs11::HsmKekConfig;

use super::CpConfig;

/// The variable holding the KEK's base64 text (over any file).
pub const KEK_ENV: &str = "SIGIL_KEK";
/// The older name of [`KEK_ENV`], from when only the key service used the KEK.
pub const KES_KEK_ENV: &str = "SIGIL_KES_KEK";

/// Where the KEK comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KekSource {
    /// Base64 text in an environment variable.
    Env { var: &'static str, text: String },
    /// A file named by a configuration key.
    File { key: &'static str, path: PathBuf },
    /// An AES key in a PKCS#11 token.
    Hsm {
        key: &'static str,
        config: HsmKekConfig,
    },
    /// Nothing configured: the default file, which exists.
    Default(PathBuf),
    /// Nothing configured and no default file (`init` creates it there).
    Missing(PathBuf),
}

impl std::fmt::Debug for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl KekSource {
    /// Where, in words (never the key): `SIGIL_KEK`, `secrets.kek_file /etc/sigil/kek`, ….
    pub fn describe(&self) -> String {
        match self {
            Self::Env { var, .. } => (*var).to_string(),
            Self::File { key, path } => format!("{key} {}", path.display()),
            Self::Hsm { key, config } => format!(
                "[{key}] key {:?} in token {:?}",
                config.key_label, config.token_label
            ),
            Self::Default(p) => format!("default file {}", p.display()),
            Self::Missing(p) => format!("none (default file {} absent)", p.display()),
        }
    }
}

/// The default KEK file: the data directory's path with `.kek` appended, beside the data
/// directory and not in it (a copy of the data directory does not carry the key that opens
/// its secrets), one per data directory, found without any configuration.
pub fn default_kek_file(data_dir: &Path) -> Result<PathBuf, String> {
    let abs = std::path::absolute(data_dir)
        .map_err(|e| format!("data_dir {}: {e}", data_dir.display()))?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => {
            let mut file = name.to_owned();
            file.push(".kek");
            Ok(parent.join(file))
        }
        _ => Err(format!(
            "data_dir {} has no name to put a default key-encryption key file beside it: set [secrets] kek_file",
            data_dir.display()
        )),
    }
}

/// One value from a setting and its older name: equal or only one set, else an error.
fn one_of<T: PartialEq + Clone>(
    new: (&'static str, Option<&T>),
    old: (&'static str, Option<&T>),
) -> Result<Option<(&'static str, T)>, String> {
    match (new.1, old.1) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "{} and {} (its older name) are both set, differently: set one",
            new.0, old.0
        )),
        (Some(a), _) => Ok(Some((new.0, a.clone()))),
        (None, Some(b)) => Ok(Some((old.0, b.clone()))),
        (None, None) => Ok(None),
    }
}

/// Where the KEK comes from, given the two variables' values (`env`); a conflict is an error.
fn source_from(cfg: &CpConfig, env: (Option<String>, Option<String>)) -> Result<KekSource, String> {
    let text = one_of((KEK_ENV, env.0.as_ref()), (KES_KEK_ENV, env.1.as_ref()))?;
    let file = one_of(
        ("secrets.kek_file", cfg.secrets.kek_file.as_ref()),
        ("kes.kek_file", cfg.kes.kek_file.as_ref()),
    )?;
    let hsm = one_of(
        ("secrets.hsm", cfg.secrets.hsm.as_ref()),
        ("kes.hsm", cfg.kes.hsm.as_ref()),
    )?;
    if let Some((key, config)) = hsm {
        if text.is_some() || file.is_some() {
            return Err(format!(
                "[{key}] excludes {KEK_ENV}/{KES_KEK_ENV} and kek_file: the key-encryption key is either in the token or not"
            ));
        }
        return Ok(KekSource::Hsm { key, config });
    }
    if let Some((var, text)) = text {
        return Ok(KekSource::Env { var, text });
    }
    if let Some((key, path)) = file {
        return Ok(KekSource::File { key, path });
    }
    let default = default_kek_file(&cfg.data_dir)?;
    Ok(if default.exists() {
        KekSource::Default(default)
    } else {
        KekSource::Missing(default)
    })
}

fn var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8 base64 text")),
    }
}

/// Where the KEK comes from ([`KekSource`]) and the KEK itself, loaded (a token's key opened
/// and probed now); `None` only for [`KekSource::Missing`]. An error names the variable, key
/// or file to fix.
pub fn load_kek(cfg: &CpConfig) -> Result<(KekSource, Option<Arc<dyn KeyWrapper>>), String> {
    let source = source_from(cfg, (var(KEK_ENV)?, var(KES_KEK_ENV)?))?;
    let kek = load_from(&source)?;
    Ok((source, kek))
}

fn load_from(source: &KekSource) -> Result<Option<Arc<dyn KeyWrapper>>, String> {
    let parsed = |what: String, text: &str| {
        Kek::parse(text)
            .map(|k| Some(Arc::new(k) as Arc<dyn KeyWrapper>))
            .map_err(|e| format!("{what}: {e}"))
    };
    match source {
        KekSource::Env { var, text } => parsed((*var).to_string(), text),
        KekSource::File { key, path } => {
            let text = secret_file(key, path).map_err(|e| e.to_string())?;
            parsed(format!("{key}: {}", path.display()), &text)
        }
        KekSource::Default(path) => {
            let text =
                secret_file("default key-encryption key file", path).map_err(|e| e.to_string())?;
            parsed(path.display().to_string(), &text)
        }
        KekSource::Hsm { key, config } => {
            let kek = sigil_kes_pkcs11::HsmKek::open(config)
                .map_err(|e| e.to_string().replacen("kes.hsm", key, 1))?;
            Ok(Some(Arc::new(kek)))
        }
        KekSource::Missing(_) => Ok(None),
    }
}

/// Creates a KEK file at `path` (32 random bytes in base64, mode 0600, synced with its
/// directory); refuses to overwrite anything there.
pub fn create_kek_file(path: &Path) -> Result<Arc<dyn KeyWrapper>, String> {
    use base64::Engine as _;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(key.as_mut_slice())
        .map_err(|_| "the random generator failed".to_string())?;
    let text = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*key));
    let fail = |e: std::io::Error| format!("creating {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    f.write_all(format!("{}\n", text.as_str()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
    }
    let kek = Kek::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Arc::new(kek))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn cfg(toml: &str, data_dir: &Path) -> CpConfig {
        let mut c: CpConfig = toml::from_str(toml).unwrap();
        c.data_dir = data_dir.to_path_buf();
        c
    }

    fn load(c: &CpConfig, env: (Option<&str>, Option<&str>)) -> Result<Option<String>, String> {
        let s = source_from(c, (env.0.map(Into::into), env.1.map(Into::into)))?;
        Ok(load_from(&s)?.map(|k| k.id().to_string()))
    }

    #[test]
    fn the_default_file_is_beside_the_data_directory() {
        assert_eq!(
            default_kek_file(Path::new("/var/lib/sigil-cp")).unwrap(),
            Path::new("/var/lib/sigil-cp.kek")
        );
        assert_eq!(
            default_kek_file(Path::new("/var/lib/sigil-cp/")).unwrap(),
            Path::new("/var/lib/sigil-cp.kek")
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            default_kek_file(Path::new("data")).unwrap(),
            cwd.join("data.kek")
        );
        assert!(default_kek_file(Path::new("/")).is_err());
    }

    #[test]
    fn variables_files_and_their_older_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        std::fs::write(&file, format!("{KEK}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let id = Kek::parse(KEK).unwrap().id().to_string();
        let data = dir.path().join("data");
        let none = cfg("", &data);
        let new = cfg(&format!("[secrets]\nkek_file = {file:?}\n"), &data);
        let old = cfg(&format!("[kes]\nkek_file = {file:?}\n"), &data);
        assert_eq!(load(&new, (None, None)).unwrap(), Some(id.clone()));
        assert_eq!(load(&old, (None, None)).unwrap(), Some(id.clone()));
        assert_eq!(load(&none, (Some(KEK), None)).unwrap(), Some(id.clone()));
        assert_eq!(load(&none, (None, Some(KEK))).unwrap(), Some(id.clone()));
        assert_eq!(
            load(&none, (Some(KEK), Some(KEK))).unwrap(),
            Some(id.clone())
        );
        // The variable wins over a file (missing or not).
        let missing = cfg("[secrets]\nkek_file = \"/nonexistent\"\n", &data);
        assert_eq!(load(&missing, (Some(KEK), None)).unwrap(), Some(id.clone()));
        let e = load(&missing, (None, None)).unwrap_err();
        assert!(
            e.starts_with("secrets.kek_file: reading /nonexistent"),
            "{e}"
        );
        // Two names for one setting, differently: refused.
        let other = "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let e = load(&none, (Some(KEK), Some(other))).unwrap_err();
        assert!(e.contains("SIGIL_KEK and SIGIL_KES_KEK"), "{e}");
        let both = cfg(
            &format!("[secrets]\nkek_file = {file:?}\n[kes]\nkek_file = \"/elsewhere\"\n"),
            &data,
        );
        let e = load(&both, (None, None)).unwrap_err();
        assert!(e.contains("secrets.kek_file and kes.kek_file"), "{e}");
        let hsm = "module = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\nkey_label = \"k\"\n";
        let e = load(
            &cfg(&format!("[secrets.hsm]\n{hsm}"), &data),
            (Some(KEK), None),
        )
        .unwrap_err();
        assert!(e.contains("[secrets.hsm] excludes"), "{e}");
        let e = load(&cfg(&format!("[kes.hsm]\n{hsm}"), &data), (None, None)).unwrap_err();
        assert!(e.starts_with("kes.hsm"), "{e}");
        // Bad text and loose permissions name what to fix.
        let e = load(&none, (Some("short"), None)).unwrap_err();
        assert!(e.starts_with("SIGIL_KEK: "), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&new, (None, None)).unwrap_err();
        assert!(
            e.contains("secrets.kek_file") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn init_creates_the_default_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg("", &dir.path().join("data"));
        let s = source_from(&c, (None, None)).unwrap();
        let KekSource::Missing(path) = s.clone() else {
            panic!("{s:?}")
        };
        assert_eq!(path, dir.path().join("data.kek"));
        assert_eq!(load_from(&s).unwrap().map(|k| k.id().to_string()), None);
        let created = create_kek_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let s = source_from(&c, (None, None)).unwrap();
        assert_eq!(s, KekSource::Default(path.clone()));
        assert_eq!(
            load_from(&s).unwrap().map(|k| k.id().to_string()),
            Some(created.id().to_string())
        );
        let before = std::fs::read(&path).unwrap();
        let e = create_kek_file(&path).unwrap_err();
        assert!(e.contains("exists"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!format!("{s:?}").contains(std::str::from_utf8(&before).unwrap().trim()));
    }
}
