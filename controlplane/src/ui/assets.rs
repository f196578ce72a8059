//! The console's one stylesheet, one script and its icon, built into the binary and served under
//! `/ui/static/<version>/` where the version is a digest of both files: a changed file gets a
//! new path, so they are cached for a year (`immutable`).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");
const ICON: &str = include_str!("static/favicon.svg");

/// First 8 bytes of SHA-256 over the files, in hex.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(CSS.as_bytes());
    ctx.update(JS.as_bytes());
    ctx.update(ICON.as_bytes());
    hex::encode(&ctx.finish().as_ref()[..8])
});

pub fn css_path() -> String {
    format!("/ui/static/{}/console.css", *VERSION)
}

pub fn js_path() -> String {
    format!("/ui/static/{}/console.js", *VERSION)
}

pub fn icon_path() -> String {
    format!("/ui/static/{}/favicon.svg", *VERSION)
}

/// `GET /ui/static/{version}/{file}` (no session needed: nothing secret).
pub async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let body = match file.as_str() {
        "console.css" if version == *VERSION => ("text/css; charset=utf-8", CSS),
        "console.js" if version == *VERSION => ("text/javascript; charset=utf-8", JS),
        "favicon.svg" if version == *VERSION => ("image/svg+xml", ICON),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, body.0),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body.1,
    )
        .into_response()
}
