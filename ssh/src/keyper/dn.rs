//! Keyper's LDAP distinguished names, rendered from a configured base DN (e.g.
//! `dc=keyper,dc=example,dc=org`) and read back. Only the forms Keyper writes are read:
//! `cn=<name>,ou=<ou>,<base>`; attribute names, the `ou` value and the base compare ASCII
//! case-insensitively (as LDAP compares them), the name itself exactly, and a name must be a
//! plain value (no `,` `=` `+` `\` `"` `<` `>` `;`, no surrounding spaces) — no DN escapes.

/// The `ou` of users.
pub const OU_PEOPLE: &str = "people";
/// The `ou` of hosts.
pub const OU_HOSTS: &str = "Hosts";
/// The `ou` of groups.
pub const OU_GROUPS: &str = "groups";

/// DN helpers (namespace).
#[derive(Debug, Clone, Copy)]
pub struct Dn;

impl Dn {
    /// `cn=<cn>,ou=people,<base>`.
    pub fn user(base: &str, cn: &str) -> String {
        Self::make(base, OU_PEOPLE, cn)
    }

    /// `cn=<cn>,ou=Hosts,<base>`.
    pub fn host(base: &str, cn: &str) -> String {
        Self::make(base, OU_HOSTS, cn)
    }

    /// `cn=<cn>,ou=groups,<base>`.
    pub fn group(base: &str, cn: &str) -> String {
        Self::make(base, OU_GROUPS, cn)
    }

    fn make(base: &str, ou: &str, cn: &str) -> String {
        format!("cn={cn},ou={ou},{base}")
    }

    /// The `cn` of `dn` when it is `cn=<cn>,ou=<expected_ou>,<base>`, or `dn` itself when it is
    /// a bare name (no `=` or `,`); `None` otherwise (another `ou`, another base, escapes).
    pub fn parse_cn<'a>(dn: &'a str, expected_ou: &str, base: &str) -> Option<&'a str> {
        if plain_value(dn) {
            return Some(dn);
        }
        let rest = strip_prefix_ci(dn, "cn=")?;
        let (cn, rest) = rest.split_once(',')?;
        let rest = strip_prefix_ci(rest, "ou=")?;
        let (ou, rest) = rest.split_once(',')?;
        (plain_value(cn) && ou.eq_ignore_ascii_case(expected_ou) && rest.eq_ignore_ascii_case(base))
            .then_some(cn)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A value needing no DN escaping, not empty, without surrounding spaces or control
/// characters.
fn plain_value(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with([' ', '#'])
        && !s.ends_with(' ')
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, ',' | '=' | '+' | '\\' | '"' | '<' | '>' | ';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "dc=keyper,dc=example,dc=org";

    #[test]
    fn renders_keypers_dns() {
        assert_eq!(
            Dn::user(BASE, "alice"),
            "cn=alice,ou=people,dc=keyper,dc=example,dc=org"
        );
        assert_eq!(
            Dn::host(BASE, "mavrix2"),
            "cn=mavrix2,ou=Hosts,dc=keyper,dc=example,dc=org"
        );
        assert_eq!(
            Dn::group(BASE, "demo_servers"),
            "cn=demo_servers,ou=groups,dc=keyper,dc=example,dc=org"
        );
    }

    #[test]
    fn parses_cn() {
        let ok = [
            (
                "cn=alice,ou=people,dc=keyper,dc=example,dc=org",
                OU_PEOPLE,
                "alice",
            ),
            (
                "CN=alice,OU=People,DC=keyper,DC=example,DC=org",
                OU_PEOPLE,
                "alice",
            ),
            (
                "cn=mavrix2,ou=Hosts,dc=keyper,dc=example,dc=org",
                OU_HOSTS,
                "mavrix2",
            ),
            (
                "cn=mavrix2,ou=hosts,dc=keyper,dc=example,dc=org",
                OU_HOSTS,
                "mavrix2",
            ),
            (
                "cn=AllHosts,ou=groups,dc=keyper,dc=example,dc=org",
                OU_GROUPS,
                "AllHosts",
            ),
            ("demo_servers", OU_GROUPS, "demo_servers"),
        ];
        for (dn, ou, cn) in ok {
            assert_eq!(Dn::parse_cn(dn, ou, BASE), Some(cn), "{dn}");
        }
        for (dn, ou) in [
            ("cn=alice,ou=people,dc=other,dc=org", OU_PEOPLE),
            ("cn=alice,ou=Hosts,dc=keyper,dc=example,dc=org", OU_PEOPLE),
            ("cn=Manager,dc=keyper,dc=example,dc=org", OU_PEOPLE),
            ("cn=a\\,b,ou=people,dc=keyper,dc=example,dc=org", OU_PEOPLE),
            ("cn=,ou=people,dc=keyper,dc=example,dc=org", OU_PEOPLE),
            ("uid=alice,ou=people,dc=keyper,dc=example,dc=org", OU_PEOPLE),
            (
                "cn=alice,ou=people,dc=keyper,dc=example,dc=org,dc=x",
                OU_PEOPLE,
            ),
            ("", OU_PEOPLE),
            (" alice", OU_PEOPLE),
            ("cn=é", OU_PEOPLE),
        ] {
            assert_eq!(Dn::parse_cn(dn, ou, BASE), None, "{dn}");
        }
    }

    #[test]
    fn round_trip() {
        for cn in ["alice", "judy.parker", "KeyperAdmins", "a-b_c"] {
            assert_eq!(Dn::parse_cn(&Dn::user(BASE, cn), OU_PEOPLE, BASE), Some(cn));
            assert_eq!(Dn::parse_cn(&Dn::host(BASE, cn), OU_HOSTS, BASE), Some(cn));
            assert_eq!(
                Dn::parse_cn(&Dn::group(BASE, cn), OU_GROUPS, BASE),
                Some(cn)
            );
        }
    }
}
