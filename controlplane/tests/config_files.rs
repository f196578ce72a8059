//! The shipped example configuration parses and validates.

use sigil_controlplane::config::{CpConfig, EstConfig, SshConfig};

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../deploy/config/sigil-cp.toml");
    let cfg: CpConfig = toml::from_str(text).expect("example config parses");
    cfg.validate().expect("example config validates");
    assert!(cfg.profile("server").unwrap().require_san);
    assert_eq!(
        cfg.public.est,
        EstConfig::default(),
        "[public.est] lists the defaults"
    );
    assert_eq!(cfg.ssh, SshConfig::default(), "[ssh] lists the defaults");
    assert!(
        cfg.profile("default").is_some(),
        "the built-in default profile exists"
    );
}
