//! The tls-alpn-01 certificate check (RFC 8737 §3): the validation certificate names only
//! the identifier and carries the critical acmeIdentifier extension holding SHA-256 of the
//! key authorization.

use aws_lc_rs::digest;
use der::asn1::OctetString;
use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// The ALPN protocol (RFC 8737 §6.2).
pub const ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier 1.3.6.1.5.5.7.1.31.
pub const ACME_IDENTIFIER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");

/// The SNI to send for an identifier: the name itself, or for an IP address its reverse
/// name (RFC 8738 §6).
pub fn sni(kind: &str, value: &str) -> String {
    match value.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) if kind == "ip" => {
            let o = ip.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Ok(std::net::IpAddr::V6(ip)) if kind == "ip" => {
            let mut s = String::new();
            for b in ip.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s + "ip6.arpa"
        }
        _ => value.to_owned(),
    }
}

/// Checks the peer's certificate (DER) for identifier (`kind`, `value`) and key
/// authorization `ka`; the error is the detail of an `unauthorized`/`tls` problem.
pub fn check(cert_der: &[u8], kind: &str, value: &str, ka: &str) -> Result<(), String> {
    let cert = Certificate::from_der(cert_der).map_err(|e| format!("bad certificate: {e}"))?;
    let exts = cert.tbs_certificate.extensions.unwrap_or_default();
    let mut names = None;
    let mut acme_id = None;
    for e in &exts {
        if e.extn_id == const_oid_san() {
            let san = SubjectAltName::from_der(e.extn_value.as_bytes())
                .map_err(|e| format!("bad subjectAltName: {e}"))?;
            names = Some(san.0);
        } else if e.extn_id == ACME_IDENTIFIER {
            if !e.critical {
                return Err("the acmeIdentifier extension is not critical".into());
            }
            acme_id = Some(e.extn_value.as_bytes().to_vec());
        }
    }
    let names = names.ok_or("the certificate has no subjectAltName")?;
    let one = match names.as_slice() {
        [one] => one,
        _ => return Err("the certificate must name exactly the identifier".into()),
    };
    let named = match (one, kind) {
        (GeneralName::DnsName(d), "dns") => d.as_str().eq_ignore_ascii_case(value),
        (GeneralName::IpAddress(ip), "ip") => {
            value.parse::<std::net::IpAddr>().is_ok_and(|v| match v {
                std::net::IpAddr::V4(v) => ip.as_bytes() == v.octets(),
                std::net::IpAddr::V6(v) => ip.as_bytes() == v.octets(),
            })
        }
        _ => false,
    };
    if !named {
        return Err(format!("the certificate does not name {value}"));
    }
    let got = acme_id.ok_or("the certificate has no acmeIdentifier extension")?;
    let want = OctetString::new(digest::digest(&digest::SHA256, ka.as_bytes()).as_ref())
        .and_then(|o| o.to_der())
        .map_err(|e| e.to_string())?;
    if got != want {
        return Err("the acmeIdentifier is not SHA-256 of the key authorization".into());
    }
    Ok(())
}

fn const_oid_san() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(sni("ip", "127.0.0.1"), "1.0.0.127.in-addr.arpa");
        assert!(sni("ip", "::1").starts_with("1.0.0.0."));
        assert!(sni("ip", "::1").ends_with(".ip6.arpa"));
        assert_eq!(sni("dns", "a.example"), "a.example");
        assert!(check(b"junk", "dns", "a", "k").is_err());
    }
}
