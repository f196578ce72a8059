//! OCSP over GET (RFC 6960 A.1): `GET {prefix}/{url-encoding of base64(DER)}`.

use std::sync::Arc;

use base64::Engine;

use super::{check_ocsp, Scenario};
use crate::corpus::RequestSource;
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

pub struct OcspGet {
    source: Arc<dyn RequestSource>,
}

impl OcspGet {
    pub fn new(source: Arc<dyn RequestSource>) -> Self {
        OcspGet { source }
    }
}

/// `/` followed by the standard base64 of `der` with `+`, `/` and `=` %-encoded, as OCSP
/// clients (openssl, browsers) send it.
pub fn get_path(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut path = String::with_capacity(b64.len() + 16);
    path.push('/');
    for c in b64.chars() {
        match c {
            '+' => path.push_str("%2B"),
            '/' => path.push_str("%2F"),
            '=' => path.push_str("%3D"),
            c => path.push(c),
        }
    }
    path
}

impl Scenario for OcspGet {
    fn name(&self) -> &'static str {
        "ocsp-get"
    }

    fn describe(&self) -> String {
        format!("OCSP GET, {}", self.source.describe())
    }

    fn items(&self) -> u64 {
        self.source.len()
    }

    fn request(&self, item: u64) -> Request<'_> {
        Request {
            method: "GET",
            path: get_path(&self.source.request_der(item)).into(),
            headers: &[],
            body: (&[][..]).into(),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        check_ocsp(resp)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_percent_encoded_base64() {
        assert_eq!(super::get_path(&[0xfb, 0xff]), "/%2B%2F8%3D");
        assert_eq!(super::get_path(&[0x30, 0x03, 0x0a]), "/MAMK");
    }
}
