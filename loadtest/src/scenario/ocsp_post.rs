//! OCSP over POST (RFC 6960 A.1): the DER request as an `application/ocsp-request` body.

use std::sync::Arc;

use super::{check_ocsp, Scenario};
use crate::corpus::RequestSource;
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

pub struct OcspPost {
    source: Arc<dyn RequestSource>,
}

impl OcspPost {
    pub fn new(source: Arc<dyn RequestSource>) -> Self {
        OcspPost { source }
    }
}

const HEADERS: &[(&str, &str)] = &[("Content-Type", "application/ocsp-request")];

impl Scenario for OcspPost {
    fn name(&self) -> &'static str {
        "ocsp-post"
    }

    fn describe(&self) -> String {
        format!("OCSP POST, {}", self.source.describe())
    }

    fn items(&self) -> u64 {
        self.source.len()
    }

    fn request(&self, item: u64) -> Request<'_> {
        Request {
            method: "POST",
            path: "/".into(),
            headers: HEADERS,
            body: self.source.request_der(item),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        check_ocsp(resp)
    }
}
