//! Defaults, validation and strictness of the configuration file.

use std::path::PathBuf;

use super::*;

#[test]
fn defaults_are_valid_and_unknown_keys_rejected() {
    DpConfig::default().validate().unwrap();
    assert!(serde_json::from_str::<DpConfig>(r#"{"http": {"max_body": 1}}"#).is_err());
    let mut c = DpConfig::default();
    c.control_plane.url = Some("ftp://x".into());
    assert_eq!(c.validate().unwrap_err().len(), 1);
    assert_eq!("io-uring".parse::<Driver>().unwrap(), Driver::IoUring);
}

#[test]
fn ssh_cache_size_is_checked() {
    assert_eq!(DpConfig::default().cache.ssh_entries_per_core, 100_000);
    let c: DpConfig = serde_json::from_str(r#"{"cache": {"ssh_entries_per_core": 5}}"#).unwrap();
    assert_eq!(c.cache.max_entries_per_core, 200_000);
    c.validate().unwrap();
    for bad in [0, MAX_SSH_ENTRIES + 1] {
        let mut c = DpConfig::default();
        c.cache.ssh_entries_per_core = bad;
        let errs = c.validate().unwrap_err();
        assert!(errs[0].contains("cache.ssh_entries_per_core"), "{errs:?}");
    }
}

#[test]
fn tls_section_is_optional_checked_and_strict() {
    assert_eq!(DpConfig::default().tls, None);
    let section =
        r#""listen": "127.0.0.1:8443", "cert": "/etc/sigil/dp.pem", "key": "/etc/sigil/dp.key""#;
    let json =
        |extra: &str| format!(r#"{{"listen": "127.0.0.1:8080", "tls": {{{section}{extra}}}}}"#);
    let c: DpConfig = serde_json::from_str(&json("")).unwrap();
    c.validate().unwrap();
    let tls = c.tls.clone().unwrap();
    assert_eq!(tls.client_ca, None);
    assert_eq!(tls.listen.port(), 8443);
    assert!(serde_json::from_str::<DpConfig>(&json(r#", "client_cert": "x""#)).is_err());
    assert!(serde_json::from_str::<DpConfig>(r#"{"tls": {"listen": "127.0.0.1:8443"}}"#).is_err());

    let mut bad = c.clone();
    let t = bad.tls.as_mut().unwrap();
    t.listen = "0.0.0.0:8080".parse().unwrap();
    t.key = PathBuf::new();
    t.client_ca = Some(PathBuf::new());
    let errs = bad.validate().unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].contains("share its port with listen"), "{errs:?}");
    assert!(errs[1].contains("tls.key") && errs[2].contains("tls.client_ca"));

    let mut metrics = c;
    metrics.metrics.listen = Some("127.0.0.1:8443".parse().unwrap());
    assert_eq!(metrics.validate().unwrap_err().len(), 1);
}

#[test]
fn https_control_plane_needs_a_ca_file() {
    let c: DpConfig =
        serde_json::from_str(r#"{"control_plane": {"url": "https://cp.example:9444"}}"#).unwrap();
    assert!(c.control_plane.is_https());
    let errs = c.validate().unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("control_plane.ca_file is required"),
        "{errs:?}"
    );

    let mut ok = c.clone();
    ok.control_plane.ca_file = Some("/etc/sigil/cp-ca.pem".into());
    ok.validate().unwrap();
    ok.control_plane.client_cert = Some("/etc/sigil/dp-client.pem".into());
    let errs = ok.validate().unwrap_err();
    assert!(errs[0].contains("go together"), "{errs:?}");
    ok.control_plane.client_key = Some("/etc/sigil/dp-client.key".into());
    ok.validate().unwrap();
    ok.control_plane.client_key = Some(PathBuf::new());
    let errs = ok.validate().unwrap_err();
    assert!(errs[0].contains("client_key must name a file"), "{errs:?}");

    let mut plain = DpConfig::default();
    plain.control_plane.url = Some("http://127.0.0.1:9444".into());
    plain.control_plane.ca_file = Some("/etc/sigil/cp-ca.pem".into());
    let errs = plain.validate().unwrap_err();
    assert!(errs[0].contains("need an https://"), "{errs:?}");
    assert!(serde_json::from_str::<DpConfig>(
        r#"{"control_plane": {"ca_cert": "/etc/sigil/cp-ca.pem"}}"#
    )
    .is_err());
}

#[test]
fn debug_never_shows_the_replication_token() {
    let mut c = DpConfig::default();
    c.control_plane.token = Some("repl-token-never-logged".into());
    let shown = format!("{c:?}");
    assert!(!shown.contains("repl-token-never-logged"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}
