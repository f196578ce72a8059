//! A certificate request's or certificate's names as ACME identifiers (RFC 8555 §7.1.4).

use std::collections::BTreeSet;
use std::net::IpAddr;

use der::Encode;
use x509_cert::ext::pkix::name::GeneralName;

/// The CSR's subjectAltNames as ACME identifiers; anything but DNS names and IP addresses
/// is refused.
pub fn csr_identifiers(sans: &[GeneralName]) -> Result<BTreeSet<(String, String)>, String> {
    let mut out = BTreeSet::new();
    for n in sans {
        match n {
            GeneralName::DnsName(d) => {
                out.insert(("dns".to_owned(), d.as_str().to_ascii_lowercase()));
            }
            GeneralName::IpAddress(ip) => {
                let b = ip.as_bytes();
                let ip = match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(b).expect("4 bytes")),
                    16 => IpAddr::from(<[u8; 16]>::try_from(b).expect("16 bytes")),
                    _ => return Err("an IP address SAN of a bad length".into()),
                };
                out.insert(("ip".to_owned(), ip.to_string()));
            }
            other => {
                return Err(format!(
                    "the CSR names {} : only DNS names and IP addresses are allowed",
                    other
                        .to_der()
                        .map(|_| "another kind of name")
                        .unwrap_or("a bad name")
                ))
            }
        }
    }
    Ok(out)
}
