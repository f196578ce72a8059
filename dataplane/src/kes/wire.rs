//! The key service's JSON, as KES writes and reads it (minio/kes `internal/api`: request.go,
//! response.go): byte fields are standard base64 (Go's `[]byte`), responses end with a newline
//! (Go's `json.Encoder`), errors are `{"message": "..."}`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};

/// A base64 byte field; absent or `null` is empty.
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
    match s {
        None => Ok(Vec::new()),
        Some(s) => STANDARD
            .decode(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("not base64")),
    }
}

/// `/v1/key/encrypt` (`version` names a key version, optional).
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct EncryptRequest {
    #[serde(deserialize_with = "bytes")]
    pub plaintext: Vec<u8>,
    #[serde(deserialize_with = "bytes")]
    pub context: Vec<u8>,
    pub version: Option<String>,
}

impl std::fmt::Debug for EncryptRequest {
    /// Never the plaintext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field(
                "plaintext",
                &format_args!("[{} bytes]", self.plaintext.len()),
            )
            .field("context", &self.context)
            .field("version", &self.version)
            .finish()
    }
}

/// `/v1/key/generate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateRequest {
    #[serde(deserialize_with = "bytes")]
    pub context: Vec<u8>,
    pub version: Option<String>,
}

/// `/v1/key/decrypt`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecryptRequest {
    #[serde(deserialize_with = "bytes")]
    pub ciphertext: Vec<u8>,
    #[serde(deserialize_with = "bytes")]
    pub context: Vec<u8>,
    pub version: Option<String>,
}

/// `/v1/key/hmac`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HmacRequest {
    #[serde(deserialize_with = "bytes")]
    pub message: Vec<u8>,
    pub version: Option<String>,
}

/// A JSON body; an empty body is the type's default (KES clients send none for `{}`).
pub fn parse<'a, T: Deserialize<'a> + Default>(body: &'a [u8]) -> Option<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(T::default());
    }
    serde_json::from_slice(body).ok()
}

/// A key version as a request names it: `"3"` or `"v3"`; `None` for none given.
pub fn version(v: &Option<String>) -> Result<Option<u32>, ()> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .strip_prefix('v')
            .unwrap_or(s)
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ()),
    }
}

/// Appends `"name":"<base64>"`.
pub fn push_b64_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":\"");
    let start = out.len();
    out.resize(
        start + base64::encoded_len(value.len(), true).unwrap_or(0),
        0,
    );
    let n = STANDARD
        .encode_slice(value, &mut out[start..])
        .expect("sized above");
    out.truncate(start + n);
    out.push(b'"');
}

/// KES's error body.
pub fn error_body(message: &str) -> Vec<u8> {
    let mut out = serde_json::to_vec(&serde_json::json!({ "message": message }))
        .unwrap_or_else(|_| b"{\"message\":\"internal error\"}".to_vec());
    out.push(b'\n');
    out
}

/// A JSON response body as Go's encoder writes it.
pub fn json_body(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypt_request_debug_never_shows_the_plaintext() {
        // "secret!!" in base64.
        let r: EncryptRequest = parse(br#"{"plaintext":"c2VjcmV0ISE="}"#).unwrap();
        let shown = format!("{r:?}");
        assert!(shown.contains("[8 bytes]"), "{shown}");
        assert!(!shown.contains("115, 101, 99"), "{shown}");
    }

    #[test]
    fn requests_as_kes_clients_send_them() {
        let r: DecryptRequest =
            parse(br#"{"ciphertext":"AAEC","context":"e30=","version":"v2"}"#).unwrap();
        assert_eq!(r.ciphertext, [0, 1, 2]);
        assert_eq!(r.context, b"{}");
        assert_eq!(version(&r.version), Ok(Some(2)));
        let r: GenerateRequest = parse(b"").unwrap();
        assert!(r.context.is_empty());
        let r: EncryptRequest = parse(br#"{"plaintext":null}"#).unwrap();
        assert!(r.plaintext.is_empty());
        assert!(parse::<DecryptRequest>(br#"{"ciphertext":"not base64!"}"#).is_none());
        assert!(parse::<DecryptRequest>(b"{").is_none());
        assert_eq!(version(&Some("x".into())), Err(()));
    }

    #[test]
    fn bodies() {
        let mut out = b"{".to_vec();
        push_b64_field(&mut out, "plaintext", b"hello");
        out.push(b'}');
        assert_eq!(out, br#"{"plaintext":"aGVsbG8="}"#);
        assert_eq!(
            error_body("key does not exist"),
            b"{\"message\":\"key does not exist\"}\n"
        );
    }
}
