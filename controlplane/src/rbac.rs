//! Role-based access control for the admin API, after UCM's permission model
//! (`<action>:<resource>`, `read:*`, `*`): the permission each route needs, the permissions
//! each role grants, and the check. Plain functions; the middleware in `api.rs` applies them.

use serde::{Deserialize, Serialize};

/// Roles an API key can have. The admin bearer token and trusted mTLS clients are `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Auditor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the role grants.
    ///
    /// - admin: everything, including API keys and the audit log.
    /// - operator: day-to-day certificate work: issue, revoke, OTPs, issuers; the key
    ///   service's keys, policies and identities; the SSH key service's users, hosts,
    ///   groups, keys and certificates (no API keys, no audit log).
    /// - auditor: reads everything, the audit log included; changes nothing.
    /// - viewer: reads certificates, CAs, system status, the key service (names, versions,
    ///   policies, identities — never key material) and the SSH key service (users, hosts,
    ///   groups, public keys); not the audit log, OTPs or API keys.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Role::Admin => &["*"],
            Role::Operator => &[
                "read:certificates",
                "write:certificates",
                "delete:certificates",
                "read:cas",
                "write:cas",
                "read:otp",
                "write:otp",
                "delete:otp",
                "read:kes",
                "write:kes",
                "delete:kes",
                "read:ssh",
                "write:ssh",
                "delete:ssh",
                "read:system",
            ],
            Role::Auditor => &["read:*"],
            Role::Viewer => &[
                "read:certificates",
                "read:cas",
                "read:kes",
                "read:ssh",
                "read:system",
            ],
        }
    }
}

/// Every permission an API key may be given explicitly (UCM's names where they exist).
pub const PERMISSIONS: &[&str] = &[
    "*",
    "read:*",
    "read:certificates",
    "write:certificates",
    "delete:certificates",
    "read:cas",
    "write:cas",
    "delete:cas",
    "read:otp",
    "write:otp",
    "delete:otp",
    "read:audit",
    "read:apikeys",
    "write:apikeys",
    "delete:apikeys",
    "read:kes",
    "write:kes",
    "delete:kes",
    "read:ssh",
    "write:ssh",
    "delete:ssh",
    "read:system",
    "admin:system",
];

/// What a Keyper administrator's token (a member of `[ssh] admin_group`) grants: Keyper's
/// routes, nothing else.
pub const SSH_ADMIN_PERMISSIONS: &[&str] = &["read:ssh", "write:ssh", "delete:ssh"];

/// Whether a Keyper user who is not an administrator may make this request: reading
/// (`GET`) or changing (`PUT`) their own account, `/api/users/{username}` with their own
/// name in the path (a percent-encoded name does not match: refused).
pub fn keyper_self_service(method: &str, route: &str, path: &str, username: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT")
        && route == "/api/users/{username}"
        && path.strip_prefix("/api/users/") == Some(username)
}

/// What a route that any valid credential may use needs (`/api/v1/auth/check`).
pub const AUTHENTICATED: &str = "authenticated";

/// True when `granted` covers `needed` (`*` covers all, `read:*` every `read:…`).
pub fn allows(granted: &[impl AsRef<str>], needed: &str) -> bool {
    if needed == AUTHENTICATED {
        return true;
    }
    let action = needed.split(':').next().unwrap_or(needed);
    granted.iter().any(|g| {
        let g = g.as_ref();
        g == "*" || g == needed || (g.ends_with(":*") && g.split(':').next() == Some(action))
    })
}

/// The permission a request needs, from its method and matched route. Routes not listed need
/// `admin:system`, so a new route is closed to everyone but admins until it is classified.
pub fn required_permission(method: &str, route: &str) -> &'static str {
    if route == "/api/v1/auth/check" {
        return AUTHENTICATED;
    }
    let resource = resource_of(route);
    // A PKCS#12 export is a POST (certctl's: the password travels in the body) but reads.
    let read = matches!(method, "GET" | "HEAD") || route.ends_with("/export/pkcs12");
    match (resource, read) {
        (Some(r), true) => r.read,
        // Revocation is `delete:certificates` (UCM: "Delete/revoke certificates").
        (Some(r), false) if route.ends_with("/revoke") || route.ends_with("/bulk-revoke") => {
            r.delete
        }
        (Some(r), false) if method == "DELETE" => r.delete,
        (Some(r), false) => r.write,
        (None, _) => "admin:system",
    }
}

struct Resource {
    read: &'static str,
    write: &'static str,
    delete: &'static str,
}

macro_rules! resource {
    ($name:literal) => {
        Resource {
            read: concat!("read:", $name),
            write: concat!("write:", $name),
            delete: concat!("delete:", $name),
        }
    };
}

fn resource_of(route: &str) -> Option<Resource> {
    const PREFIXES: &[(&str, Resource)] = &[
        ("/api/v1/certificates", resource!("certificates")),
        ("/admin/certs", resource!("certificates")),
        // Approving a pending SCEP request issues a certificate.
        ("/api/v1/scep", resource!("certificates")),
        ("/api/v1/issuers", resource!("cas")),
        // Profiles are the issuers' policy: managed with the CAs' permissions.
        ("/api/v1/profiles", resource!("cas")),
        ("/admin/ca", resource!("cas")),
        ("/admin/otp", resource!("otp")),
        ("/api/v1/audit", resource!("audit")),
        ("/api/v1/apikeys", resource!("apikeys")),
        ("/api/v1/rbac", resource!("apikeys")),
        ("/api/v1/kes", resource!("kes")),
        ("/api/users", resource!("ssh")),
        ("/api/hosts", resource!("ssh")),
        ("/api/groups", resource!("ssh")),
        ("/admin/health", resource!("system")),
        ("/api/v1/admin", resource!("system")),
        ("/api/v1/version", resource!("system")),
        ("/api/v1/replication/digest", resource!("system")),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| route == *p || route.starts_with(&format!("{p}/")))
        .map(|(_, r)| Resource {
            read: r.read,
            write: r.write,
            delete: r.delete,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        let can =
            |r: Role, m: &str, route: &str| allows(r.permissions(), required_permission(m, route));
        assert!(can(Role::Admin, "POST", "/api/v1/apikeys"));
        assert!(can(Role::Operator, "POST", "/api/v1/certificates"));
        assert!(can(
            Role::Operator,
            "POST",
            "/api/v1/certificates/{id}/revoke"
        ));
        assert!(!can(Role::Operator, "GET", "/api/v1/audit"));
        assert!(!can(Role::Operator, "POST", "/api/v1/apikeys"));
        // Pending SCEP requests: approving issues a certificate.
        assert_eq!(
            required_permission("POST", "/api/v1/scep/requests/{id}/approve"),
            "write:certificates"
        );
        assert!(can(
            Role::Operator,
            "POST",
            "/api/v1/scep/requests/{id}/reject"
        ));
        assert!(can(Role::Viewer, "GET", "/api/v1/scep/requests"));
        assert!(!can(
            Role::Viewer,
            "POST",
            "/api/v1/scep/requests/{id}/approve"
        ));
        assert!(!can(
            Role::Auditor,
            "POST",
            "/api/v1/scep/requests/{id}/approve"
        ));
        assert!(can(Role::Auditor, "GET", "/api/v1/audit/verify"));
        assert!(can(Role::Auditor, "GET", "/admin/otp"));
        assert!(!can(Role::Auditor, "POST", "/admin/otp"));
        assert!(!can(Role::Auditor, "DELETE", "/admin/otp/{id}"));
        assert!(can(Role::Viewer, "GET", "/admin/certs"));
        assert!(can(Role::Viewer, "GET", "/admin/health"));
        assert!(!can(Role::Viewer, "GET", "/api/v1/audit"));
        assert!(!can(Role::Viewer, "GET", "/admin/otp"));
        assert!(!can(
            Role::Viewer,
            "POST",
            "/api/v1/certificates/{id}/revoke"
        ));
        // The key service: operators manage it, auditors and viewers read it.
        assert!(can(Role::Operator, "POST", "/api/v1/kes/keys"));
        assert!(can(
            Role::Operator,
            "POST",
            "/api/v1/kes/keys/{name}/rotate"
        ));
        assert!(can(Role::Operator, "DELETE", "/api/v1/kes/policies/{name}"));
        assert!(can(Role::Viewer, "GET", "/api/v1/kes/keys/{name}"));
        assert!(can(Role::Auditor, "GET", "/api/v1/kes/identities"));
        assert!(!can(
            Role::Viewer,
            "PUT",
            "/api/v1/kes/identities/{identity}"
        ));
        assert!(!can(Role::Auditor, "POST", "/api/v1/kes/keys"));
        assert_eq!(
            required_permission("POST", "/api/v1/kes/keys/{name}/rotate"),
            "write:kes"
        );
    }

    #[test]
    fn the_ssh_service_and_keyper_users() {
        let can =
            |r: Role, m: &str, route: &str| allows(r.permissions(), required_permission(m, route));
        assert_eq!(required_permission("GET", "/api/users"), "read:ssh");
        assert_eq!(
            required_permission("PUT", "/api/users/{username}"),
            "write:ssh"
        );
        assert_eq!(
            required_permission("DELETE", "/api/hosts/{hostname}"),
            "delete:ssh"
        );
        assert_eq!(required_permission("POST", "/api/groups"), "write:ssh");
        assert!(can(Role::Operator, "DELETE", "/api/users/{username}"));
        assert!(can(Role::Viewer, "GET", "/api/groups/{groupname}"));
        assert!(!can(Role::Viewer, "POST", "/api/hosts"));
        assert!(can(Role::Auditor, "GET", "/api/hosts"));
        // A Keyper admin's token: Keyper's routes only.
        assert!(allows(
            SSH_ADMIN_PERMISSIONS,
            required_permission("POST", "/api/users")
        ));
        assert!(!allows(
            SSH_ADMIN_PERMISSIONS,
            required_permission("GET", "/api/v1/issuers")
        ));
        // A Keyper user: themselves, GET and PUT.
        let route = "/api/users/{username}";
        assert!(keyper_self_service(
            "GET",
            route,
            "/api/users/alice",
            "alice"
        ));
        assert!(keyper_self_service(
            "PUT",
            route,
            "/api/users/alice",
            "alice"
        ));
        assert!(!keyper_self_service(
            "DELETE",
            route,
            "/api/users/alice",
            "alice"
        ));
        assert!(!keyper_self_service(
            "GET",
            route,
            "/api/users/bob",
            "alice"
        ));
        assert!(!keyper_self_service(
            "GET",
            route,
            "/api/users/alice/x",
            "alice"
        ));
        assert!(!keyper_self_service(
            "GET",
            "/api/users",
            "/api/users",
            "alice"
        ));
    }

    #[test]
    fn unclassified_routes_need_admin() {
        assert_eq!(
            required_permission("GET", "/api/v1/new-thing"),
            "admin:system"
        );
        assert!(!allows(Role::Auditor.permissions(), "admin:system"));
        assert!(allows(Role::Admin.permissions(), "admin:system"));
        // A prefix must end at a path segment.
        assert_eq!(
            required_permission("GET", "/admin/cas-extra"),
            "admin:system"
        );
    }

    #[test]
    fn wildcards() {
        assert!(allows(&["read:*"], "read:audit"));
        assert!(!allows(&["read:*"], "write:audit"));
        assert!(allows(&["*"], "delete:cas"));
        assert!(!allows(&["read:cas"], "read:certificates"));
        for p in PERMISSIONS {
            assert!(allows(&["*"], p));
        }
    }
}
