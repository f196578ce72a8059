//! ACME request payloads (what clients send) and identifier checks (RFC 8555 §7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An identifier (§9.7.7): `dns` (RFC 8555) or `ip` (RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    pub fn dns(v: &str) -> Self {
        Self {
            kind: "dns".into(),
            value: v.into(),
        }
    }

    /// Normalises and checks it: `dns` lowercased, a syntactically valid host name (LDH
    /// labels, at most 253 characters, no wildcard: wildcards need dns-01 and are not
    /// offered); `ip` a textual IPv4/IPv6 address (canonical form). Returns the error detail.
    pub fn normalized(&self) -> Result<Self, String> {
        match self.kind.as_str() {
            "dns" => {
                let v = self.value.trim_end_matches('.').to_ascii_lowercase();
                if !is_hostname(&v) {
                    return Err(format!("{:?} is not a valid DNS name", self.value));
                }
                Ok(Self {
                    kind: "dns".into(),
                    value: v,
                })
            }
            "ip" => {
                let ip: std::net::IpAddr = self
                    .value
                    .parse()
                    .map_err(|_| format!("{:?} is not an IP address", self.value))?;
                Ok(Self {
                    kind: "ip".into(),
                    value: ip.to_string(),
                })
            }
            other => Err(format!("identifier type {other:?} is not supported")),
        }
    }
}

/// LDH host name check (RFC 1123 §2.1).
pub fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `newAccount` payload (§7.3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    pub only_return_existing: Option<bool>,
    #[serde(default)]
    pub external_account_binding: Option<Value>,
}

/// Account update payload (§7.3.2, §7.3.6).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountUpdate {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<String>,
}

/// `newOrder` payload (§7.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
}

/// `finalize` payload (§7.4): base64url DER PKCS#10.
#[derive(Debug, Clone, Deserialize)]
pub struct Finalize {
    pub csr: String,
}

/// `revokeCert` payload (§7.6): base64url DER certificate, RFC 5280 reason code.
#[derive(Debug, Clone, Deserialize)]
pub struct Revocation {
    pub certificate: String,
    #[serde(default)]
    pub reason: Option<u8>,
}

/// The inner payload of `keyChange` (§7.3.5).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChange {
    pub account: String,
    pub old_key: Value,
}

/// Contacts must be `mailto:` URLs without hfields (§7.3); returns the error detail.
pub fn check_contacts(contacts: &[String]) -> Result<(), String> {
    if contacts.len() > 10 {
        return Err("at most 10 contacts".into());
    }
    for c in contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(format!("{c:?}: only mailto: contacts are supported"));
        };
        if addr.contains(['?', ',', ' ']) || !addr.contains('@') || addr.len() > 254 {
            return Err(format!("{c:?} is not a single e-mail address"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_normalise() {
        let d = Identifier::dns("WWW.Example.COM.").normalized().unwrap();
        assert_eq!(d.value, "www.example.com");
        assert!(Identifier::dns("*.example.com").normalized().is_err());
        assert!(Identifier::dns("a..b").normalized().is_err());
        assert!(Identifier::dns("-a.b").normalized().is_err());
        let ip = Identifier {
            kind: "ip".into(),
            value: "::0001".into(),
        };
        assert_eq!(ip.normalized().unwrap().value, "::1");
        let bad = Identifier {
            kind: "email".into(),
            value: "a@b".into(),
        };
        assert!(bad.normalized().is_err());
    }

    #[test]
    fn contacts() {
        assert!(check_contacts(&["mailto:a@example.com".into()]).is_ok());
        assert!(check_contacts(&["tel:+1".into()]).is_err());
        assert!(check_contacts(&["mailto:a@b?subject=x".into()]).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Normalizing is idempotent, and an accepted DNS name is a lowercase host name.
        #[test]
        fn normalizing_twice_changes_nothing(v in "[A-Za-z0-9.:*-]{0,40}", ip in any::<bool>()) {
            let id = Identifier { kind: if ip { "ip" } else { "dns" }.into(), value: v };
            if let Ok(n) = id.normalized() {
                prop_assert_eq!(n.normalized(), Ok(n.clone()));
                if !ip {
                    prop_assert!(is_hostname(&n.value));
                    prop_assert_eq!(n.value.to_ascii_lowercase(), n.value.clone());
                }
            }
        }
    }
}
