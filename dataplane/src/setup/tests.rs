//! Flags over the file, the checks and their messages, the replication token's sources.

use std::io::Write;

use clap::Parser;

use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn messages(flags: &Flags, token: Option<&str>) -> Vec<String> {
    load_with_token(flags, token.map(str::to_string))
        .unwrap_err()
        .messages()
}

#[test]
fn flags_override_the_file() {
    let f = file("listen = \"127.0.0.1:1\"\nthreads = 3\n[metrics]\nready_max_lag_records = 7\n");
    let flags = Flags::try_parse_from([
        "sigil-dp",
        "--config",
        f.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:2",
        "--driver",
        "epoll",
        "--no-pin",
        "--metrics-listen",
        "127.0.0.1:3",
    ])
    .unwrap();
    let cfg = load_with_token(&flags, None).unwrap().config;
    assert_eq!(cfg.listen, "127.0.0.1:2".parse().unwrap());
    assert_eq!(
        (cfg.threads, cfg.driver, cfg.pin_threads),
        (3, Driver::Epoll, false)
    );
    assert_eq!(cfg.metrics.listen, Some("127.0.0.1:3".parse().unwrap()));
    assert_eq!(cfg.metrics.ready_max_lag_records, 7);
    let defaults = load_with_token(&Flags::default(), None).unwrap();
    assert_eq!(defaults.config.listen, DpConfig::default().listen);
    assert!(defaults.upstream.is_none() && defaults.tls.is_none());
}

#[test]
fn file_errors_name_the_file() {
    let missing = std::path::Path::new("/nonexistent/sigil-dp.toml");
    let flags = Flags {
        config: Some(missing.into()),
        ..Flags::default()
    };
    let m = messages(&flags, None);
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with("cannot read /nonexistent/sigil-dp.toml: "),
        "{m:?}"
    );
    let f = file("[http]\nmax_body = 1\n");
    let flags = Flags {
        config: Some(f.path().into()),
        ..Flags::default()
    };
    let m = messages(&flags, None);
    assert!(
        m[0].starts_with(&format!("{}: ", f.path().display())),
        "{m:?}"
    );
}

#[test]
fn every_invalid_value_is_one_message() {
    let f = file("max_connections_per_core = 0\n[http]\nidle_timeout_secs = 0\n");
    let flags = Flags {
        config: Some(f.path().into()),
        ..Flags::default()
    };
    let m = messages(&flags, None);
    assert_eq!(
        m,
        [
            "http timeouts must be at least 1 second",
            "max_connections_per_core must be at least 1"
        ]
    );
}

#[test]
fn tls_flags_make_a_section_only_together() {
    let flags = Flags {
        tls_listen: Some("127.0.0.1:8443".parse().unwrap()),
        ..Flags::default()
    };
    let e = load_with_token(&flags, None).unwrap_err();
    assert!(matches!(e, ConfigError::TlsFlags));
    assert_eq!(
        e.messages(),
        ["without a [tls] section, --tls-listen, --tls-cert and --tls-key go together"]
    );
    let flags = Flags {
        tls_cert: Some("/nonexistent/dp.pem".into()),
        tls_key: Some("/nonexistent/dp.key".into()),
        ..flags
    };
    // A section is made; its files are read before any port is bound, and named when missing.
    let e = load_with_token(&flags, None).unwrap_err();
    assert!(matches!(e, ConfigError::Tls(_)), "{e}");
    assert!(
        e.to_string().starts_with("tls.cert /nonexistent/dp.pem"),
        "{e}"
    );
    // Over an existing section, a flag replaces only its own key.
    let mut cfg = DpConfig {
        tls: Some(TlsListener {
            listen: "127.0.0.1:1".parse().unwrap(),
            cert: "a.pem".into(),
            key: "a.key".into(),
            client_ca: Some("ca.pem".into()),
        }),
        ..DpConfig::default()
    };
    let only_key = Flags {
        tls_key: Some("b.key".into()),
        ..Flags::default()
    };
    apply_tls_flags(&only_key, &mut cfg).unwrap();
    let t = cfg.tls.unwrap();
    assert_eq!(
        (t.cert.to_str(), t.key.to_str(), t.client_ca.is_some()),
        (Some("a.pem"), Some("b.key"), true)
    );
}

#[test]
fn the_replication_token_comes_from_the_environment_or_the_file() {
    let url = Flags {
        control_plane: vec!["http://127.0.0.1:9444".into()],
        ..Flags::default()
    };
    assert_eq!(
        messages(&url, None),
        ["a control plane is configured but SIGIL_REPLICATION_TOKEN is not set"]
    );
    assert_eq!(messages(&url, Some("")).len(), 1, "an empty token is none");
    let up = load_with_token(&url, Some("from-env".into()))
        .unwrap()
        .upstream
        .unwrap();
    let up = up.get(0);
    assert_eq!((up.token.as_str(), up.url.port), ("from-env", 9444));

    let f = file("[control_plane]\ntoken = \"${SIGIL_SURELY_UNSET_VARIABLE_2}\"\n");
    let from_file = Flags {
        config: Some(f.path().into()),
        ..url
    };
    assert_eq!(
        messages(&from_file, None),
        ["environment variable SIGIL_SURELY_UNSET_VARIABLE_2 is not set"]
    );
    // The environment wins over the file.
    let up = load_with_token(&from_file, Some("from-env".into()))
        .unwrap()
        .upstream
        .unwrap();
    assert_eq!(up.get(0).token, "from-env");
    let f = file("[control_plane]\ntoken = \"literal-token\"\n");
    let literal = Flags {
        config: Some(f.path().into()),
        ..from_file
    };
    let up = load_with_token(&literal, None).unwrap().upstream.unwrap();
    assert_eq!(up.get(0).token, "literal-token");

    let bad_url = Flags {
        control_plane: vec!["https://cp example".into()],
        control_plane_ca: Some("/nonexistent/ca.pem".into()),
        ..Flags::default()
    };
    let m = messages(&bad_url, Some("t"));
    assert!(m[0].starts_with("control_plane.url"), "{m:?}");
}

#[test]
fn several_control_plane_urls_from_the_file_or_the_flags() {
    let f = file("[control_plane]\nurl = [\"http://cp-a:9444\", \"http://cp-b:9444\"]\n");
    let from_file = Flags {
        config: Some(f.path().into()),
        ..Flags::default()
    };
    let ups = load_with_token(&from_file, Some("t".into()))
        .unwrap()
        .upstream
        .unwrap();
    assert_eq!(ups.names(), ["http://cp-a:9444", "http://cp-b:9444"]);
    // Repeated or comma-separated flags (blanks trimmed), replacing the file's list.
    let flags = Flags::try_parse_from([
        "sigil-dp",
        "--config",
        f.path().to_str().unwrap(),
        "--control-plane",
        "http://cp-c:1, http://cp-d:2",
        "--control-plane",
        "http://cp-e:3",
    ])
    .unwrap();
    let ups = load_with_token(&flags, Some("t".into()))
        .unwrap()
        .upstream
        .unwrap();
    assert_eq!(
        ups.names(),
        ["http://cp-c:1", "http://cp-d:2", "http://cp-e:3"]
    );
    let ups = load_with_token(&from_file, Some("t".into())).unwrap();
    assert_eq!(ups.config.control_plane.url.unwrap().as_slice().len(), 2);

    let bad = |args: &[&str]| {
        let mut all = vec!["sigil-dp"];
        all.extend(args);
        messages(&Flags::try_parse_from(all).unwrap(), Some("t"))
    };
    assert_eq!(
        bad(&["--control-plane", "http://a:1,http://A:1/"]),
        ["control_plane.url lists http://A:1 more than once"]
    );
    let m = bad(&["--control-plane", "http://a:1,https://b:2"]);
    assert!(
        m.iter().any(|m| m.contains("mixes http:// and https://")),
        "{m:?}"
    );
    let seventeen: Vec<String> = (0..17).map(|i| format!("http://cp-{i}")).collect();
    let m = bad(&["--control-plane", &seventeen.join(",")]);
    assert_eq!(m, ["control_plane.url names 17 URLs; at most 16"]);
    let m = bad(&["--control-plane", "https://a:1,https://b:2"]);
    assert!(m[0].contains("control_plane.ca_file is required"), "{m:?}");
}

#[test]
fn the_relay_token_comes_from_the_environment_or_the_file() {
    let cfg: crate::config::RelayConfig = toml::from_str("listen = \"127.0.0.1:9500\"\n").unwrap();
    assert!(matches!(
        super::load_relay(&cfg, None),
        Err(ConfigError::NoRelayToken)
    ));
    assert!(matches!(
        super::load_relay(&cfg, Some(String::new())),
        Err(ConfigError::NoRelayToken)
    ));
    assert_eq!(
        super::load_relay(&cfg, Some("env".into())).unwrap().token,
        "env"
    );
    let with_file = crate::config::RelayConfig {
        token: Some("from-file".into()),
        ..cfg.clone()
    };
    let loaded = super::load_relay(&with_file, None).unwrap();
    assert_eq!(loaded.token, "from-file");
    assert!(!format!("{loaded:?}").contains("from-file"));
    assert_eq!(
        super::load_relay(&with_file, Some("env".into()))
            .unwrap()
            .token,
        "env"
    );
}
