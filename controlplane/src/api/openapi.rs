//! `GET /api/v1/openapi.yaml`: the OpenAPI 3.1 description of the admin listener, kept in
//! `controlplane/api/openapi.yaml` and checked against the router by
//! `controlplane/tests/openapi.rs` (every route documented, every documented route served).

use axum::http::header;
use axum::response::IntoResponse;

/// The document, compiled in.
pub const OPENAPI_YAML: &str = include_str!("../../api/openapi.yaml");

pub async fn spec() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/yaml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        OPENAPI_YAML,
    )
}
