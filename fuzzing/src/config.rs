//! Configuration files as the binaries read them at start-up (through
//! `sigil_configfile`): the TOML files of sigil-dp, sigil-cp and sigil-authkeys with their
//! validation and the URLs in them, and the files a configuration names (PEM certificates
//! and keys, the key service's key-encryption key).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigil_authkeys::config::{AuthkeysConfig, Url};
use sigil_configfile::{certs, private_key, read_toml, secret_file};
use sigil_controlplane::config::CpConfig;
use sigil_dataplane::config::DpConfig;
use sigil_dataplane::replica::{BaseUrl, Scheme};
use sigil_kes::wrap::KeyMaterial;
use sigil_kes::{Algorithm, HmacKey, Kek, SecretKey};

thread_local! {
    /// The scratch directory of this thread: files rewritten per input.
    static SCRATCH: tempfile::TempDir = tempfile::tempdir().expect("a scratch directory");
}

/// The path of scratch file `name` (mode 0600, as a secret file must be), now holding `data`.
fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let path = SCRATCH.with(|dir| dir.path().join(name));
    if !path.exists() {
        std::fs::write(&path, b"").expect("creating a scratch file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(&path, data).expect("writing a scratch file");
    path
}

/// Any bytes as the configuration file of each binary (`--config`): reading never panics;
/// what reads serializes to TOML that reads back to the same configuration with the same
/// validation result; the replication source's URL and sigil-authkeys' data-plane URLs
/// parse back from their own parts.
pub fn config_toml(data: &[u8]) {
    let path = &scratch("config.toml", data);
    if let Ok(cfg) = read_toml::<DpConfig>(path) {
        let again: DpConfig = round_trip(&cfg);
        assert_eq!(again.validate(), cfg.validate());
        if let Some(urls) = &cfg.control_plane.url {
            urls.as_slice().iter().for_each(|u| base_url(u));
        }
    }
    if let Ok(cfg) = read_toml::<CpConfig>(path) {
        let again: CpConfig = round_trip(&cfg);
        assert_eq!(again.validate(), cfg.validate());
        assert_eq!(again.validate_serving(), cfg.validate_serving());
        for name in cfg.profiles.keys() {
            assert!(cfg.profile(name).is_some());
        }
    }
    if let Ok(cfg) = read_toml::<AuthkeysConfig>(path) {
        let _ = cfg.validate();
        cfg.urls.iter().for_each(|u| authkeys_url(u));
    }
}

/// `cfg` written as TOML and read back, the same (compared by its `Debug` form).
fn round_trip<T>(cfg: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let text = toml::to_string(cfg).expect("a configuration serializes");
    let again: T = toml::from_str(&text).expect("a serialized configuration reads");
    assert_eq!(format!("{again:?}"), format!("{cfg:?}"), "{text}");
    again
}

fn base_url(url: &str) {
    let Ok(u) = BaseUrl::parse(url) else { return };
    let scheme = match u.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    let again = format!("{scheme}://{}:{}{}", u.host, u.port, u.base_path);
    assert_eq!(BaseUrl::parse(&again), Ok(u), "{again}");
}

fn authkeys_url(url: &str) {
    let Ok(u) = Url::parse(url) else { return };
    if u.host.contains(['[', ']']) {
        return; // `[` and `]` delimit an IPv6 address: not written back unambiguously
    }
    let host = match u.host.contains(':') {
        true => format!("[{}]", u.host),
        false => u.host.clone(),
    };
    let scheme = if u.https { "https" } else { "http" };
    let again = format!("{scheme}://{host}:{}{}", u.port, u.base_path);
    assert_eq!(Url::parse(&again), Ok(u), "{again}");
}

/// Any bytes as a file a configuration names: PEM certificates (`tls.cert`, `ca_file`, …)
/// read back the same from the PEM Sigil would write for them; a private key file yields a
/// key; a key-encryption key file (`kes.kek_file`, mode 0600) that parses wraps and unwraps
/// key material and gets the same id however it is spaced.
pub fn config_files(data: &[u8]) {
    let path = &scratch("file", data);
    if let Ok(list) = certs("tls.cert", path) {
        assert!(!list.is_empty());
        let mut pem = String::new();
        for c in &list {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for chunk in STANDARD.encode(c.as_ref()).as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(chunk).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        let again = certs("tls.cert", &scratch("certs.pem", pem.as_bytes()));
        assert_eq!(again.expect("written PEM reads"), list);
    }
    if let Ok(key) = private_key("tls.key", path) {
        assert!(!key.secret_der().is_empty());
    }
    let text = secret_file("kes.kek_file", path).ok();
    if let Some(kek) = text.as_deref().and_then(|t| Kek::parse(t).ok()) {
        kek_round_trip(&kek, text.as_deref().unwrap_or_default());
    }
}

fn kek_round_trip(kek: &Kek, text: &str) {
    let spaced = Kek::parse(&format!(" \n{}\t\n", text.trim())).expect("same text");
    assert_eq!(spaced.id(), kek.id());
    let material = KeyMaterial {
        key: SecretKey::new(Algorithm::ChaCha20, [1; 32]),
        hmac: HmacKey::new([2; 32]),
    };
    let wrapped = kek.wrap("key", 3, &material, [9; 12]);
    assert_eq!(kek.unwrap("key", 3, &wrapped).ok(), Some(material));
    assert!(kek.unwrap("key", 4, &wrapped).is_err());
}
