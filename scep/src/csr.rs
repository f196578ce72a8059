//! The PKCS#10 request inside a PKCSReq/RenewalReq: its challengePassword attribute
//! (RFC 2985 §5.4.1, RFC 8894 §2.3):
//!
//! ```text
//! challengePassword ATTRIBUTE ::= { WITH SYNTAX DirectoryString {pkcs-9-ub-challengePassword}
//!                                   EQUALITY MATCHING RULE caseExactMatch SINGLE VALUE TRUE }
//! ```

use der::Decode;
use x509_cert::request::CertReq;

use crate::{attrs, oids, Result, ScepError};

/// The challengePassword of a DER PKCS#10 request, if it has one.
pub fn challenge_password(csr_der: &[u8]) -> Result<Option<String>> {
    let req = CertReq::from_der(csr_der)?;
    let list: Vec<_> = req.info.attributes.iter().cloned().collect();
    match attrs::find(&list, &oids::CHALLENGE_PASSWORD)? {
        None => Ok(None),
        Some(v) => {
            let text = attrs::as_text(v)?;
            if text.len() > 255 {
                return Err(ScepError::Malformed("challengePassword too long".into()));
            }
            Ok(Some(text))
        }
    }
}
