//! Creating a CA whose key is made in a PKCS#11 token (SoftHSM2) from the web console's form,
//! in process. The client: support/console_client.rs; the token: support/softhsm.rs.

#[path = "support/console_client.rs"]
mod console_client;
#[path = "support/softhsm.rs"]
mod softhsm;

use axum::http::StatusCode;
use console_client::*;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::KeyRef;
use softhsm::{setup, MODULE, PIN_ENV};

#[tokio::test]
async fn a_ca_with_its_key_in_a_token_is_created_from_the_console() {
    setup(&["console"]);
    let mut config = CpConfig::default();
    config.hsm.allowed_modules = vec![MODULE.into()];
    let cp = cp_with(config);
    let admin = sign_in(&cp, ADMIN).await;
    let page = send(&cp, "GET", "/ui/cas/new", &admin, None).await;
    let form = format!(
        "csrf={}&kind=pkcs11&name=HSM+Root&id=hsm-root&subject=CN%3DHSM+Root\
         &key_algorithm=ecdsa-p256&module={}&token_label=console&key_label=hsm-root-key&pin_env={}",
        page.csrf(),
        enc(MODULE),
        PIN_ENV
    );
    let r = send(&cp, "POST", "/ui/cas/new", &admin, Some(&form)).await;
    assert_eq!(
        r.location(),
        "/ui/cas/hsm-root?done=ca-created",
        "{}",
        r.body
    );
    let ca = cp.services.issuers.ca("hsm-root").unwrap();
    assert!(
        matches!(&ca.record.key, KeyRef::Pkcs11 { key_label, .. } if key_label == "hsm-root-key"),
        "{:?}",
        ca.record.key
    );
    let detail = send(&cp, "GET", "/ui/cas/hsm-root", &admin, None).await;
    assert!(
        detail.body.contains("PKCS#11, label hsm-root-key"),
        "{}",
        detail.body
    );

    // A module that is not allowed: refused with the reason, the form kept.
    let form = format!(
        "csrf={}&kind=pkcs11&name=Other&subject=CN%3DOther&module=%2Ftmp%2Fevil.so\
         &token_label=console&key_label=k&pin_env={}",
        page.csrf(),
        PIN_ENV
    );
    let r = send(&cp, "POST", "/ui/cas/new", &admin, Some(&form)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("class=\"error\"") && r.body.contains("/tmp/evil.so"));
}
