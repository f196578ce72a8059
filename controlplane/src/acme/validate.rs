//! Challenge validation, off the request path (RFC 8555 §8.2): a tokio task per started
//! challenge tries up to `[acme] validation_attempts` times (2 s, 4 s, … apart), each attempt
//! bounded by `validation_timeout_secs`, then commits the verdict (challenge and
//! authorization `valid`, or `invalid` with the last problem). At most 64 validations run at
//! once (the rest wait). A challenge left `processing` by a crash is validated again at start
//! ([`resume`]).
//!
//! Where validation connects: only the identifier's own addresses — an `ip` identifier's
//! address, a `dns` name's resolved addresses (`localhost` and `*.localhost` are 127.0.0.1 as
//! RFC 6761 §6.3 says, allowed only with `allow_loopback`) — on `http01_port` (http-01, §8.3)
//! or `tls_alpn01_port` (tls-alpn-01, RFC 8737). dns-01 (§8.4) asks `dns01_hook`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use sigil_acme::{b64u, http01, key_authorization, Jwk, Problem, ProblemType};
use sigil_shared::time::now_unix;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::server::AcmeServer;
use crate::db::AcmeAuthzV1;

mod alpn;

/// Starts validating authorization `authz_id`'s processing challenge.
pub fn spawn(server: Arc<AcmeServer>, authz_id: String) {
    tokio::runtime::Handle::current().spawn(async move {
        if let Err(e) = run(&server, &authz_id).await {
            tracing::error!(authz = %authz_id, error = %e, "ACME validation could not finish");
        }
    });
}

/// Validates again every challenge a previous process left `processing`.
pub fn resume(server: &Arc<AcmeServer>) {
    let s = server.clone();
    tokio::runtime::Handle::current().spawn(async move {
        let acme = s.services.acme.clone();
        match tokio::task::spawn_blocking(move || acme.processing_authzs()).await {
            Ok(Ok(ids)) => {
                for id in ids {
                    tracing::info!(authz = %id, "resuming ACME validation");
                    spawn(s.clone(), id);
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "listing ACME validations to resume"),
            Err(e) => tracing::error!(error = %e, "listing ACME validations to resume"),
        }
    });
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

async fn run(server: &Arc<AcmeServer>, authz_id: &str) -> Result<(), String> {
    let acme = server.services.acme.clone();
    let id = authz_id.to_owned();
    let a: AcmeAuthzV1 = blocking(move || {
        acme.authz(&id)
            .map_err(|e| e.to_string())?
            .map(|a| a.v1().clone())
            .ok_or_else(|| "the authorization vanished".to_owned())
    })
    .await?;
    let Some(ch) = a
        .challenges
        .iter()
        .find(|c| c.status == "processing")
        .cloned()
    else {
        return Ok(());
    };
    let acme = server.services.acme.clone();
    let account = a.account.clone();
    let jwk = blocking(move || {
        acme.account(&account)
            .map_err(|e| e.to_string())?
            .map(|a| a.v1().jwk.clone())
            .ok_or_else(|| "the account vanished".to_owned())
    })
    .await?;
    let thumbprint = serde_json::from_str(&jwk)
        .ok()
        .and_then(|v| Jwk::from_json(&v).ok())
        .ok_or("the stored account key is unreadable")?
        .thumbprint();
    let ka = key_authorization(&ch.token, &thumbprint);
    let _slot = server
        .validations
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    let cfg = &server.cfg;
    let timeout = Duration::from_secs(cfg.validation_timeout_secs);
    let mut verdict = Err(Problem::new(ProblemType::ServerInternal, "not attempted"));
    for attempt in 0..cfg.validation_attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2u64 << (attempt - 1).min(4))).await;
        }
        let once = attempt_once(server, &a.identifier, &ch.kind, &ch.token, &ka);
        verdict = match tokio::time::timeout(timeout, once).await {
            Ok(v) => v,
            Err(_) => Err(Problem::new(
                ProblemType::Connection,
                format!("no answer within {} s", timeout.as_secs()),
            )),
        };
        if verdict.is_ok() {
            break;
        }
        tracing::info!(authz = %authz_id, challenge = %ch.kind, attempt, problem = ?verdict, "ACME validation attempt failed");
    }
    let acme = server.services.acme.clone();
    let (id, kind) = (authz_id.to_owned(), ch.kind.clone());
    let ok = verdict.is_ok();
    let error = verdict.err().and_then(|p| serde_json::to_string(&p).ok());
    blocking(move || {
        acme.update_authz(&id, |a| {
            let Some(c) = a
                .challenges
                .iter_mut()
                .find(|c| c.kind == kind && c.status == "processing")
            else {
                return false;
            };
            c.validated = Some(now_unix());
            if ok {
                c.status = "valid".into();
                if a.status == "pending" {
                    a.status = "valid".into();
                }
            } else {
                c.status = "invalid".into();
                c.error = error.clone();
                if a.status == "pending" {
                    a.status = "invalid".into();
                }
            }
            true
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
    .await?;
    server
        .services
        .metrics()
        .acme_validations
        .with_label_values(&[ch.kind.as_str(), if ok { "valid" } else { "invalid" }])
        .inc();
    tracing::info!(authz = %authz_id, challenge = %ch.kind, valid = ok, "ACME validation done");
    Ok(())
}

async fn attempt_once(
    server: &AcmeServer,
    identifier: &(String, String),
    kind: &str,
    token: &str,
    ka: &str,
) -> Result<(), Problem> {
    let cfg = &server.cfg;
    match kind {
        "http-01" => {
            let addrs = addresses(identifier, cfg.http01_port, cfg.allow_loopback).await?;
            let mut last = Problem::new(ProblemType::Connection, "no address");
            for addr in addrs {
                match http01_at(addr, &identifier.1, token, ka).await {
                    Ok(()) => return Ok(()),
                    Err(p) => last = p,
                }
            }
            Err(last)
        }
        "tls-alpn-01" => {
            let addrs = addresses(identifier, cfg.tls_alpn01_port, cfg.allow_loopback).await?;
            let mut last = Problem::new(ProblemType::Connection, "no address");
            for addr in addrs {
                match alpn::check(addr, identifier, ka).await {
                    Ok(()) => return Ok(()),
                    Err(p) => last = p,
                }
            }
            Err(last)
        }
        "dns-01" => {
            let hook = cfg
                .dns01_hook
                .clone()
                .ok_or_else(|| Problem::new(ProblemType::ServerInternal, "no dns01_hook"))?;
            let txt = b64u(digest::digest(&digest::SHA256, ka.as_bytes()).as_ref());
            let domain = identifier.1.clone();
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(&hook)
                    .arg(&domain)
                    .arg(&txt)
                    .stdin(std::process::Stdio::null())
                    .output()
            })
            .await
            .map_err(|e| Problem::new(ProblemType::ServerInternal, e.to_string()))?
            .map_err(|e| Problem::new(ProblemType::ServerInternal, format!("dns01_hook: {e}")))?;
            if out.status.success() {
                Ok(())
            } else {
                let said = String::from_utf8_lossy(&out.stdout);
                Err(Problem::new(
                    ProblemType::Dns,
                    format!(
                        "_acme-challenge.{} does not hold the expected TXT record ({})",
                        identifier.1,
                        said.trim().chars().take(200).collect::<String>()
                    ),
                ))
            }
        }
        other => Err(Problem::new(
            ProblemType::ServerInternal,
            format!("unknown challenge {other}"),
        )),
    }
}

/// The addresses validation may connect to for `identifier`.
async fn addresses(
    (kind, value): &(String, String),
    port: u16,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, Problem> {
    let ips: Vec<IpAddr> = if kind == "ip" {
        vec![value
            .parse()
            .map_err(|_| Problem::new(ProblemType::Malformed, "bad IP identifier"))?]
    } else if value == "localhost" || value.ends_with(".localhost") {
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
    } else {
        tokio::net::lookup_host((value.as_str(), port))
            .await
            .map_err(|e| Problem::new(ProblemType::Dns, format!("resolving {value}: {e}")))?
            .map(|a| a.ip())
            .collect()
    };
    let ips: Vec<IpAddr> = ips
        .into_iter()
        .filter(|ip| allow_loopback || !(ip.is_loopback() || ip.is_unspecified()))
        .collect();
    if ips.is_empty() {
        return Err(Problem::new(
            ProblemType::Dns,
            format!("{value} has no address validation may connect to"),
        ));
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

async fn http01_at(addr: SocketAddr, host: &str, token: &str, ka: &str) -> Result<(), Problem> {
    let conn = |e: std::io::Error| Problem::new(ProblemType::Connection, format!("{addr}: {e}"));
    let mut s = TcpStream::connect(addr).await.map_err(conn)?;
    s.write_all(http01::request(host, token).as_bytes())
        .await
        .map_err(conn)?;
    let mut buf = Vec::new();
    (&mut s)
        .take(http01::MAX_RESPONSE as u64)
        .read_to_end(&mut buf)
        .await
        .map_err(conn)?;
    http01::check(&buf, ka).map_err(|d| Problem::new(ProblemType::IncorrectResponse, d))
}
