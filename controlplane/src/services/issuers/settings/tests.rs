use super::*;
use crate::services::ErrorKind;

fn exists(p: &str) -> bool {
    matches!(p, "default" | "server" | "client")
}

fn update(json: serde_json::Value) -> IssuerUpdate {
    serde_json::from_value(json).unwrap()
}

#[test]
fn updates_report_changes_and_clear_with_null() {
    let old = IssuerSettings::default();
    let u = update(serde_json::json!({
        "name": " Web ", "enabled": false,
        "config": {"default_profile": "server", "allowed_profiles": ["server", "client", "server"], "max_validity_days": 30}
    }));
    let (new, changes) = apply_update(&old, &u, &exists, 100).unwrap();
    assert_eq!(new.name.as_deref(), Some("Web"));
    assert!(new.disabled);
    assert_eq!(new.disabled_at, Some(100));
    assert_eq!(
        new.allowed_profiles,
        Some(vec!["client".into(), "server".into()])
    );
    assert_eq!(new.updated_at, Some(100));
    assert_eq!(changes.len(), 5);
    assert_eq!(
        changes["enabled"],
        serde_json::json!({"from": true, "to": false})
    );

    // Absent fields stay; null clears; an unchanged value is no change.
    let u = update(serde_json::json!({"enabled": false, "config": {"max_validity_days": null}}));
    let (newer, changes) = apply_update(&new, &u, &exists, 200).unwrap();
    assert_eq!(newer.max_validity_days, None);
    assert_eq!(newer.disabled_at, Some(100));
    assert_eq!(newer.name.as_deref(), Some("Web"));
    assert_eq!(
        changes.keys().collect::<Vec<_>>(),
        vec!["max_validity_days"]
    );
    let (same, changes) =
        apply_update(&newer, &update(serde_json::json!({})), &exists, 300).unwrap();
    assert!(changes.is_empty());
    assert_eq!(same, newer);
}

#[test]
fn invalid_updates_are_refused() {
    let old = IssuerSettings::default();
    for bad in [
        serde_json::json!({"name": "  "}),
        serde_json::json!({"config": {"default_profile": "nope"}}),
        serde_json::json!({"config": {"allowed_profiles": []}}),
        serde_json::json!({"config": {"allowed_profiles": ["server", "nope"]}}),
        serde_json::json!({"config": {"max_validity_days": 0}}),
        serde_json::json!({"config": {"default_profile": "client", "allowed_profiles": ["server"]}}),
    ] {
        let r = apply_update(&old, &update(bad.clone()), &exists, 1);
        assert!(
            matches!(r, Err(e) if IssuerError::from(e.clone()).kind() == ErrorKind::Invalid),
            "{bad}"
        );
    }
    assert!(serde_json::from_value::<IssuerUpdate>(serde_json::json!({"enable": true})).is_err());
}

#[test]
fn policy_fills_defaults_and_enforces_limits() {
    let req = IssueRequest {
        issuer_id: "ca".into(),
        csr: Vec::new(),
        validity_days: None,
        profile: None,
    };
    let validity = |p: &str| match p {
        "server" => Some(90),
        _ => Some(365),
    };
    let s = IssuerSettings {
        default_profile: Some("server".into()),
        allowed_profiles: Some(vec!["server".into()]),
        max_validity_days: Some(30),
        ..Default::default()
    };
    let out = apply_policy(&s, "ca", &req, &validity).unwrap();
    assert_eq!(
        (out.profile.as_deref(), out.validity_days),
        (Some("server"), Some(30))
    );
    let other = IssueRequest {
        profile: Some("client".into()),
        ..req.clone()
    };
    assert!(matches!(
        apply_policy(&s, "ca", &other, &validity),
        Err(IssuerError::ProfileNotAllowed { .. })
    ));
    let long = IssueRequest {
        validity_days: Some(31),
        ..req.clone()
    };
    assert!(matches!(
        apply_policy(&s, "ca", &long, &validity),
        Err(IssuerError::ValidityAboveMaximum { .. })
    ));
    let off = IssuerSettings {
        disabled: true,
        ..Default::default()
    };
    assert!(matches!(
        apply_policy(&off, "ca", &req, &validity),
        Err(IssuerError::Disabled { .. })
    ));
    // No settings: the request is unchanged.
    let out = apply_policy(&IssuerSettings::default(), "ca", &req, &validity).unwrap();
    assert_eq!((out.profile, out.validity_days), (None, None));
}
