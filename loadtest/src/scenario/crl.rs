//! CRL download: `GET {prefix}/crl/{issuer_id}.crl`, a DER `application/pkix-crl`.

use super::{expect_content_type, expect_status, Scenario};
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

pub struct Crl {
    paths: Vec<String>,
}

impl Crl {
    /// One item per issuer id; at least one.
    pub fn new(issuers: &[String]) -> Self {
        Crl {
            paths: issuers.iter().map(|i| format!("/crl/{i}.crl")).collect(),
        }
    }
}

impl Scenario for Crl {
    fn name(&self) -> &'static str {
        "crl"
    }

    fn describe(&self) -> String {
        format!("CRL download, {} issuer(s)", self.paths.len())
    }

    fn items(&self) -> u64 {
        self.paths.len() as u64
    }

    fn request(&self, item: u64) -> Request<'_> {
        Request {
            method: "GET",
            path: self.paths[item as usize].as_str().into(),
            headers: &[],
            body: (&[][..]).into(),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        expect_status(resp, 200)?;
        expect_content_type(resp, "application/pkix-crl")?;
        // CertificateList ::= SEQUENCE
        if resp.body.first() == Some(&0x30) && resp.body.len() > 2 {
            Ok(())
        } else {
            Err(ErrorKind::Parse)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_checks() {
        let s = Crl::new(&["demo".into(), "root".into()]);
        assert_eq!(s.items(), 2);
        assert_eq!(s.request(1).path, "/crl/root.crl");
        let resp = |status, ct: &'static [u8], body: &'static [u8]| Response {
            status,
            content_type: Some(ct),
            body,
        };
        let ct = b"application/pkix-crl";
        assert_eq!(s.check(&resp(200, ct, &[0x30, 0x82, 0x01])), Ok(()));
        assert_eq!(s.check(&resp(200, ct, b"x")), Err(ErrorKind::Parse));
        assert_eq!(
            s.check(&resp(404, ct, &[0x30, 1, 0])),
            Err(ErrorKind::HttpStatus)
        );
        assert_eq!(
            s.check(&resp(200, b"application/json", &[0x30, 1, 0])),
            Err(ErrorKind::ContentType)
        );
    }
}
