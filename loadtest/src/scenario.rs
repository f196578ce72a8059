//! Scenarios: what to request and how to judge the answer. Each is a module implementing
//! [`Scenario`]; the engine knows nothing else about the service under test, so new services
//! (the KES key service, SSH `/api/authkeys`) plug in as further modules.

pub mod authkeys;
pub mod crl;
pub mod kes;
pub mod ocsp_get;
pub mod ocsp_post;
pub mod post;

use crate::http::{Request, Response};
use crate::ocsp_der::response_status;
use crate::stats::ErrorKind;

pub use authkeys::Authkeys;
pub use crl::Crl;
pub use kes::{Kes, KesOp};
pub use ocsp_get::OcspGet;
pub use ocsp_post::OcspPost;
pub use post::Post;

/// One kind of request against one service.
pub trait Scenario: Send + Sync {
    /// Short name for reports (`ocsp-post`).
    fn name(&self) -> &'static str;
    /// One line for reports: the scenario and its items.
    fn describe(&self) -> String;
    /// Number of distinct items; the engine picks `0..items()` by the chosen distribution.
    fn items(&self) -> u64;
    /// The request for `item`.
    fn request(&self, item: u64) -> Request<'_>;
    /// Judges a complete response.
    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind>;
}

/// `HttpStatus` unless `resp.status == status`.
pub fn expect_status(resp: &Response<'_>, status: u16) -> Result<(), ErrorKind> {
    if resp.status == status {
        Ok(())
    } else {
        Err(ErrorKind::HttpStatus)
    }
}

/// `ContentType` unless the media type (before any `;`) is `media_type` (case-insensitive).
pub fn expect_content_type(resp: &Response<'_>, media_type: &str) -> Result<(), ErrorKind> {
    let ct = resp.content_type.unwrap_or_default();
    let essence = ct.split(|b| *b == b';').next().unwrap_or_default();
    if essence
        .trim_ascii()
        .eq_ignore_ascii_case(media_type.as_bytes())
    {
        Ok(())
    } else {
        Err(ErrorKind::ContentType)
    }
}

/// An OCSP answer: HTTP 200, `application/ocsp-response`, `responseStatus` successful.
pub fn check_ocsp(resp: &Response<'_>) -> Result<(), ErrorKind> {
    expect_status(resp, 200)?;
    expect_content_type(resp, "application/ocsp-response")?;
    match response_status(resp.body) {
        Ok(0) => Ok(()),
        Ok(code) => Err(ErrorKind::from_ocsp_status(code)),
        Err(_) => Err(ErrorKind::Parse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp<'a>(status: u16, ct: &'a [u8], body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            content_type: Some(ct),
            body,
        }
    }

    #[test]
    fn ocsp_checks() {
        let ct = b"application/ocsp-response";
        let ok = [0x30, 0x07, 0x0a, 0x01, 0x00, 0xa0, 0x02, 0x05, 0x00];
        assert_eq!(check_ocsp(&resp(200, ct, &ok)), Ok(()));
        assert_eq!(
            check_ocsp(&resp(200, b"Application/OCSP-Response; x=y", &ok)),
            Ok(())
        );
        let unauthorized = [0x30, 0x03, 0x0a, 0x01, 0x06];
        assert_eq!(
            check_ocsp(&resp(200, ct, &unauthorized)),
            Err(ErrorKind::Unauthorized)
        );
        let try_later = [0x30, 0x03, 0x0a, 0x01, 0x03];
        assert_eq!(
            check_ocsp(&resp(200, ct, &try_later)),
            Err(ErrorKind::TryLater)
        );
        assert_eq!(check_ocsp(&resp(404, ct, &ok)), Err(ErrorKind::HttpStatus));
        assert_eq!(
            check_ocsp(&resp(200, b"text/html", &ok)),
            Err(ErrorKind::ContentType)
        );
        let none = Response {
            status: 200,
            content_type: None,
            body: &ok,
        };
        assert_eq!(check_ocsp(&none), Err(ErrorKind::ContentType));
        assert_eq!(check_ocsp(&resp(200, ct, b"nope")), Err(ErrorKind::Parse));
    }
}
