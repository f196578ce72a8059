//! The control plane's HTTP side as the tests use it: [`ControlPlane::request`] (any request,
//! optionally with a bearer token), [`ControlPlane::api`] (admin JSON calls) and
//! [`RawResponse`].

use serde_json::Value;

use crate::{ControlPlane, ADMIN_TOKEN};

/// A response as received: status, content type and raw body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, or `Value::String` of the (lossy) text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl ControlPlane {
    /// Any request; `token` is sent as a bearer token when given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> RawResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp
            .bytes()
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"))
            .to_vec();
        RawResponse {
            status,
            content_type,
            body,
        }
    }

    /// Admin API call with the admin token: `(status, JSON body)` (`Value::String` of the text
    /// if the body is not JSON, `Value::Null` if empty).
    pub fn api(&self, method: &str, path: &str, json: Option<&Value>) -> (u16, Value) {
        let body = json.map(|j| serde_json::to_vec(j).expect("serialise JSON"));
        let ct = json.map(|_| "application/json");
        let r = self.request(method, path, Some(ADMIN_TOKEN), ct, body);
        let v = if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        };
        (r.status, v)
    }

    /// Admin GET with the admin token, raw.
    pub fn get_raw(&self, path: &str) -> RawResponse {
        self.request("GET", path, Some(ADMIN_TOKEN), None, None)
    }
}
