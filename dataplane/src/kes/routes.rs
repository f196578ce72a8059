//! The key service's path table (KES server API; the seed's older paths included): method and
//! path → operation, with what KES checks before the handler runs. No I/O.
//!
//! KES answers a method it does not expect with 405 `received method 'M' expected 'E'`; it
//! accepts POST wherever it expects PUT. The seed's examples also delete with POST, so POST is
//! accepted for the delete and forget operations too.

use crate::http::Method;

/// What a request asks the key service for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Version,
    Status,
    Ready,
    Api,
    Metrics,
    KeyCreate,
    KeyImport,
    KeyDescribe,
    KeyList,
    KeyDelete,
    KeyGenerate,
    KeyEncrypt,
    KeyDecrypt,
    KeyHmac,
    PolicyWrite,
    PolicyRead,
    PolicyDescribe,
    PolicyList,
    PolicyDelete,
    IdentityAssign,
    IdentityList,
    IdentityDescribe,
    IdentitySelf,
    IdentityForget,
    LogAudit,
    LogError,
}

/// How an operation is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDef {
    pub path: &'static str,
    /// Whether a resource (name, pattern, `policy/identity`) follows `path`.
    pub resource: bool,
    pub op: Op,
    /// The method KES expects (GET, PUT or DELETE).
    pub method: Method,
    /// Requests need a client certificate and the policy's permission (the admin always has
    /// it). `/version` needs neither, `/v1/identity/self/describe` only the certificate.
    pub auth: Auth,
    /// Changes state: forwarded to the control plane.
    pub mutation: bool,
    /// Largest request body KES reads for it (0: none).
    pub max_body: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Identity,
    Policy,
}

const MIB: usize = 1 << 20;

const fn def(
    path: &'static str,
    resource: bool,
    op: Op,
    method: Method,
    auth: Auth,
    mutation: bool,
    max_body: usize,
) -> RouteDef {
    RouteDef {
        path,
        resource,
        op,
        method,
        auth,
        mutation,
        max_body,
    }
}

use Method::{Delete, Get, Put};
use Op::*;

/// Every route, in KES's `/v1/api` order.
pub const ROUTES: &[RouteDef] = &[
    def("/version", false, Version, Get, Auth::None, false, 0),
    def("/v1/ready", false, Ready, Get, Auth::Policy, false, 0),
    def("/v1/status", false, Status, Get, Auth::Policy, false, 0),
    def("/v1/metrics", false, Metrics, Get, Auth::Policy, false, 0),
    def("/v1/api", false, Api, Get, Auth::Policy, false, 0),
    def(
        "/v1/key/create/",
        true,
        KeyCreate,
        Put,
        Auth::Policy,
        true,
        0,
    ),
    def(
        "/v1/key/import/",
        true,
        KeyImport,
        Put,
        Auth::Policy,
        true,
        MIB,
    ),
    def(
        "/v1/key/describe/",
        true,
        KeyDescribe,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def("/v1/key/list/", true, KeyList, Get, Auth::Policy, false, 0),
    def(
        "/v1/key/delete/",
        true,
        KeyDelete,
        Delete,
        Auth::Policy,
        true,
        0,
    ),
    def(
        "/v1/key/encrypt/",
        true,
        KeyEncrypt,
        Put,
        Auth::Policy,
        false,
        MIB,
    ),
    def(
        "/v1/key/generate/",
        true,
        KeyGenerate,
        Put,
        Auth::Policy,
        false,
        MIB,
    ),
    def(
        "/v1/key/decrypt/",
        true,
        KeyDecrypt,
        Put,
        Auth::Policy,
        false,
        MIB,
    ),
    def(
        "/v1/key/hmac/",
        true,
        KeyHmac,
        Put,
        Auth::Policy,
        false,
        MIB,
    ),
    def(
        "/v1/policy/write/",
        true,
        PolicyWrite,
        Put,
        Auth::Policy,
        true,
        MIB,
    ),
    def(
        "/v1/policy/read/",
        true,
        PolicyRead,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/policy/describe/",
        true,
        PolicyDescribe,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/policy/list/",
        true,
        PolicyList,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/policy/delete/",
        true,
        PolicyDelete,
        Delete,
        Auth::Policy,
        true,
        0,
    ),
    def(
        "/v1/identity/assign/",
        true,
        IdentityAssign,
        Put,
        Auth::Policy,
        true,
        0,
    ),
    def(
        "/v1/identity/list/",
        true,
        IdentityList,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/identity/self/describe",
        false,
        IdentitySelf,
        Get,
        Auth::Identity,
        false,
        0,
    ),
    def(
        "/v1/identity/describe/",
        true,
        IdentityDescribe,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/identity/forget/",
        true,
        IdentityForget,
        Delete,
        Auth::Policy,
        true,
        0,
    ),
    def(
        "/v1/log/audit",
        false,
        LogAudit,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/log/audit/trace",
        false,
        LogAudit,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/log/error",
        false,
        LogError,
        Get,
        Auth::Policy,
        false,
        0,
    ),
    def(
        "/v1/log/error/trace",
        false,
        LogError,
        Get,
        Auth::Policy,
        false,
        0,
    ),
];

/// The outcome of routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed<'a> {
    /// The route and its resource (empty without one).
    Found(&'static RouteDef, &'a str),
    /// The path exists, the method does not: 405 with KES's message.
    WrongMethod(&'static RouteDef),
    NotFound,
}

/// Finds the route of `path` (without query) for `method`.
pub fn route(method: Method, path: &str) -> Routed<'_> {
    for r in ROUTES {
        let resource = if r.resource {
            match path.strip_prefix(r.path) {
                Some(rest) => rest,
                None => continue,
            }
        } else if path == r.path {
            ""
        } else {
            continue;
        };
        let allowed = method == r.method
            || (method == Method::Post && matches!(r.method, Method::Put | Method::Delete));
        return if allowed {
            Routed::Found(r, resource)
        } else {
            Routed::WrongMethod(r)
        };
    }
    Routed::NotFound
}

/// A method's name as KES prints it.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Other => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(m: Method, p: &str) -> (Op, String) {
        match route(m, p) {
            Routed::Found(r, res) => (r.op, res.to_string()),
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn kes_paths_and_the_seeds() {
        assert_eq!(found(Get, "/version"), (Version, String::new()));
        assert_eq!(found(Put, "/v1/key/create/k1"), (KeyCreate, "k1".into()));
        assert_eq!(
            found(Method::Post, "/v1/key/create/k1"),
            (KeyCreate, "k1".into())
        );
        assert_eq!(found(Delete, "/v1/key/delete/k1"), (KeyDelete, "k1".into()));
        assert_eq!(
            found(Method::Post, "/v1/key/delete/k1"),
            (KeyDelete, "k1".into())
        );
        assert_eq!(found(Get, "/v1/key/list/my-*"), (KeyList, "my-*".into()));
        assert_eq!(found(Get, "/v1/key/list/"), (KeyList, String::new()));
        assert_eq!(
            found(Method::Post, "/v1/identity/assign/p/abc"),
            (IdentityAssign, "p/abc".into())
        );
        assert_eq!(
            found(Get, "/v1/identity/self/describe"),
            (IdentitySelf, String::new())
        );
        assert_eq!(
            found(Get, "/v1/identity/describe/abc"),
            (IdentityDescribe, "abc".into())
        );
        assert_eq!(found(Get, "/v1/log/audit/trace"), (LogAudit, String::new()));
    }

    #[test]
    fn wrong_methods_and_unknown_paths() {
        assert!(
            matches!(route(Get, "/v1/key/create/k"), Routed::WrongMethod(r) if r.method == Put)
        );
        assert!(matches!(route(Put, "/version"), Routed::WrongMethod(_)));
        assert!(matches!(
            route(Method::Post, "/v1/key/list/*"),
            Routed::WrongMethod(_)
        ));
        assert_eq!(route(Get, "/v1/key/nothing/k"), Routed::NotFound);
        assert_eq!(route(Get, "/"), Routed::NotFound);
    }
}
