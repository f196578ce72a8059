//! The key service's other reads: version, status, readiness, API list, metrics, policies and
//! identities (KES's response shapes; the seed's policy `paths` are included beside KES's
//! `allow`/`deny`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use sigil_kes::name::{lists, valid_name, valid_pattern};
use sigil_shared::time::rfc3339;

use super::handler::{invalid_name, invalid_pattern, reply_json, Ctx, Fail, KesHandler};
use super::keyring::PolicyEntry;
use super::routes::{method_name, Op, ROUTES};
use super::stats::{self, System};
use super::wire::json_body;
use crate::http::ResponseWriter;

const POLICY_NOT_FOUND: Fail = Fail(404, Cow::Borrowed("policy does not exist"));
const IDENTITY_NOT_FOUND: Fail = Fail(404, Cow::Borrowed("identity does not exist"));

/// KES's read-policy shape: patterns as maps (`{"pattern": {}}`).
fn policy_json(p: &PolicyEntry) -> serde_json::Value {
    fn map(v: &[String]) -> BTreeMap<&str, serde_json::Value> {
        v.iter()
            .map(|s| (s.as_str(), serde_json::json!({})))
            .collect()
    }
    serde_json::json!({
        "name": p.state.name,
        "allow": map(&p.state.allow),
        "deny": map(&p.state.deny),
        "paths": p.state.allow,
        "created_at": rfc3339(p.state.created_at),
        "created_by": p.state.created_by,
    })
}

impl KesHandler {
    /// Answers a non-mutating operation.
    pub(super) fn answer(
        &self,
        op: Op,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        match op {
            Op::Version => Ok(reply_json(
                resp,
                &json_body(&serde_json::json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "commit": option_env!("SIGIL_COMMIT").unwrap_or(""),
                })),
            )),
            Op::Ready => {
                resp.respond(200, &[], b"");
                Ok(200)
            }
            Op::Status => self.status(resp),
            Op::Api => self.api(resp),
            Op::Metrics => {
                let text = stats::render(&self.shared.stats, self.system());
                resp.respond(
                    200,
                    &[("Content-Type", b"text/plain; version=0.0.4")],
                    text.as_bytes(),
                );
                Ok(200)
            }
            Op::KeyDescribe => self.describe_key(ctx, resp),
            Op::KeyList => self.list_keys(ctx, resp),
            Op::KeyGenerate => self.generate(ctx, resp),
            Op::KeyEncrypt => self.encrypt(ctx, resp),
            Op::KeyDecrypt => self.decrypt(ctx, resp),
            Op::KeyHmac => self.hmac(ctx, resp),
            Op::PolicyRead | Op::PolicyDescribe => {
                if !valid_name(ctx.resource) {
                    return Err(invalid_name("policy", ctx.resource));
                }
                let p = ctx.ring.policy(ctx.resource).ok_or(POLICY_NOT_FOUND)?;
                let body = if op == Op::PolicyRead {
                    policy_json(p)
                } else {
                    serde_json::json!({
                        "name": p.state.name,
                        "created_at": rfc3339(p.state.created_at),
                        "created_by": p.state.created_by,
                    })
                };
                Ok(reply_json(resp, &json_body(&body)))
            }
            Op::PolicyList => {
                if !valid_pattern(ctx.resource) {
                    return Err(invalid_pattern(ctx.resource));
                }
                let names: Vec<&str> = ctx
                    .ring
                    .policies()
                    .map(|p| p.state.name.as_str())
                    .filter(|n| lists(ctx.resource, n))
                    .collect();
                Ok(reply_json(
                    resp,
                    &json_body(&serde_json::json!({ "names": names, "continue_at": "" })),
                ))
            }
            Op::IdentityList => {
                if !valid_pattern(ctx.resource) {
                    return Err(invalid_pattern(ctx.resource));
                }
                let ids: Vec<&str> = ctx
                    .ring
                    .identities()
                    .map(|i| i.identity.as_str())
                    .filter(|i| lists(ctx.resource, i))
                    .collect();
                Ok(reply_json(
                    resp,
                    &json_body(&serde_json::json!({ "identities": ids, "continue_at": "" })),
                ))
            }
            Op::IdentityDescribe => {
                let admin = self.shared.admin.as_deref() == Some(ctx.resource);
                let body = match ctx.ring.identity(ctx.resource) {
                    Some(i) => serde_json::json!({
                        "admin": admin,
                        "policy": i.policy,
                        "created_at": rfc3339(i.created_at),
                        "created_by": i.created_by,
                    }),
                    None if admin => serde_json::json!({ "admin": true }),
                    None => return Err(IDENTITY_NOT_FOUND),
                };
                Ok(reply_json(resp, &json_body(&body)))
            }
            Op::IdentitySelf => {
                let assigned = ctx.ring.identity(ctx.identity);
                let mut body = serde_json::json!({
                    "identity": ctx.identity,
                    "admin": ctx.admin,
                });
                if let Some(i) = assigned {
                    body["created_at"] = rfc3339(i.created_at).into();
                    body["created_by"] = i.created_by.clone().into();
                    if let Some(p) = ctx.ring.policy(&i.policy) {
                        body["policy"] = policy_json(p);
                    }
                }
                Ok(reply_json(resp, &json_body(&body)))
            }
            // Mutations are forwarded before getting here.
            _ => Err(Fail(500, Cow::Borrowed("internal error"))),
        }
    }

    fn system(&self) -> System {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        System {
            up_time: self.shared.started.elapsed(),
            num_cpu: cpus,
            num_cpu_used: self.shared.stats.len(),
            num_threads: self.shared.stats.len(),
        }
    }

    fn status(&self, resp: &mut ResponseWriter<'_>) -> Result<u16, Fail> {
        let sys = self.system();
        let body = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "uptime": sys.up_time.as_secs(),
            "num_cpu": sys.num_cpu,
            "num_cpu_used": sys.num_cpu_used,
            "mem_heap_used": 0,
            "mem_stack_used": 0,
        });
        Ok(reply_json(resp, &json_body(&body)))
    }

    fn api(&self, resp: &mut ResponseWriter<'_>) -> Result<u16, Fail> {
        let timeout = self.shared.forwarder.timeout.as_secs();
        let routes: Vec<_> = ROUTES
            .iter()
            .map(|r| {
                serde_json::json!({
                    "method": method_name(r.method),
                    "path": r.path,
                    "max_body": r.max_body,
                    "timeout": timeout,
                })
            })
            .collect();
        Ok(reply_json(resp, &json_body(&routes)))
    }
}
