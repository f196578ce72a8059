//! The shipped example configuration parses and validates.

use sigil_dataplane::config::DpConfig;

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../deploy/config/sigil-dp.toml");
    let cfg: DpConfig = toml::from_str(text).expect("example config parses");
    cfg.validate().expect("example config validates");
    assert_eq!(cfg.http.max_body_bytes, 10_000);
}
