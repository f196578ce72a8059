//! Any service's write path: `POST {prefix}{path}` with a body read from a file, the given
//! headers, and one expected status. Item `i` is path `i mod paths` with body `i mod bodies`
//! (several paths: e.g. one revocation per certificate, with `--dist sequential`). Made for issuance (`POST
//! /api/v1/certificates` on `sigil-cp`, `POST /api/v1/cfssl/sign` on `cfssl serve`), so that
//! Sigil and a peer are loaded by the same client (benches/peers/issuance-peers.sh).

use super::{expect_status, Scenario};
use crate::http::{Request, Response};
use crate::stats::ErrorKind;

pub struct Post {
    paths: Vec<String>,
    /// `(name, value)`; `'static` because [`Request`] borrows them for the whole run and a
    /// scenario lives as long as the process (see [`Post::new`]).
    headers: Vec<(&'static str, &'static str)>,
    bodies: Vec<Vec<u8>>,
    status: u16,
}

/// Why a `--header` or a scenario's arguments were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostError {
    #[error("header {0:?} is not `Name: value`")]
    Header(String),
    #[error("header {0:?} is set by sigil-load itself")]
    Reserved(String),
    #[error("the post scenario needs at least one body (--body FILE)")]
    NoBody,
    #[error("the post scenario needs at least one path")]
    NoPath,
    #[error("path {0:?} must start with '/'")]
    Path(String),
}

/// `Name: value` → (name, value), both trimmed; refuses headers the encoder writes.
pub fn parse_header(h: &str) -> Result<(String, String), PostError> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| PostError::Header(h.into()))?;
    let (name, value) = (name.trim(), value.trim());
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty()
        || !name.bytes().all(token)
        || value.bytes().any(|b| b == b'\r' || b == b'\n')
    {
        return Err(PostError::Header(h.into()));
    }
    if ["host", "content-length", "transfer-encoding"]
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
    {
        return Err(PostError::Reserved(name.into()));
    }
    Ok((name.into(), value.into()))
}

impl Post {
    /// `headers` are kept for the life of the process (leaked once, at start-up: a load
    /// generator makes one scenario per run).
    pub fn new(
        paths: Vec<String>,
        headers: Vec<(String, String)>,
        bodies: Vec<Vec<u8>>,
        status: u16,
    ) -> Result<Self, PostError> {
        if bodies.is_empty() {
            return Err(PostError::NoBody);
        }
        if paths.is_empty() {
            return Err(PostError::NoPath);
        }
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return Err(PostError::Path(p.clone()));
        }
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        Ok(Post {
            paths,
            headers: headers
                .into_iter()
                .map(|(n, v)| (leak(n), leak(v)))
                .collect(),
            bodies,
            status,
        })
    }
}

impl Scenario for Post {
    fn name(&self) -> &'static str {
        "post"
    }

    fn describe(&self) -> String {
        let path = match self.paths.as_slice() {
            [one] => one.clone(),
            many => format!("{} paths ({} …)", many.len(), many[0]),
        };
        format!(
            "POST {path}, {} body file(s), expecting {}",
            self.bodies.len(),
            self.status
        )
    }

    fn items(&self) -> u64 {
        self.paths.len().max(self.bodies.len()) as u64
    }

    fn request(&self, item: u64) -> Request<'_> {
        let i = item as usize;
        Request {
            method: "POST",
            path: self.paths[i % self.paths.len()].as_str().into(),
            headers: &self.headers,
            body: self.bodies[i % self.bodies.len()].as_slice().into(),
        }
    }

    fn check(&self, resp: &Response<'_>) -> Result<(), ErrorKind> {
        expect_status(resp, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_are_refused() {
        assert_eq!(
            parse_header(" Authorization:  Bearer x ").unwrap(),
            ("Authorization".into(), "Bearer x".into())
        );
        assert_eq!(parse_header("x-a:").unwrap(), ("x-a".into(), "".into()));
        for bad in ["nocolon", ": v", "a b: v", "a: v\r\nx: y"] {
            assert!(
                matches!(parse_header(bad), Err(PostError::Header(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_header("Content-Length: 3"),
            Err(PostError::Reserved("Content-Length".into()))
        );
    }

    #[test]
    fn requests_and_checks() {
        assert_eq!(
            Post::new(vec!["/x".into()], vec![], vec![], 200).err(),
            Some(PostError::NoBody)
        );
        assert_eq!(
            Post::new(vec![], vec![], vec![b"{}".to_vec()], 200).err(),
            Some(PostError::NoPath)
        );
        assert!(matches!(
            Post::new(vec!["x".into()], vec![], vec![b"{}".to_vec()], 200),
            Err(PostError::Path(_))
        ));
        let p = Post::new(
            vec!["/api/v1/certificates".into()],
            vec![("Content-Type".into(), "application/json".into())],
            vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()],
            201,
        )
        .unwrap();
        assert_eq!(p.items(), 2);
        let r = p.request(1);
        assert_eq!((r.method, &*r.path), ("POST", "/api/v1/certificates"));
        assert_eq!(&*r.body, b"{\"a\":2}");
        assert_eq!(r.headers, &[("Content-Type", "application/json")]);
        let resp = |status| Response {
            status,
            content_type: None,
            body: b"",
        };
        assert_eq!(p.check(&resp(201)), Ok(()));
        assert_eq!(p.check(&resp(200)), Err(ErrorKind::HttpStatus));

        let revoke = Post::new(
            (0..3).map(|i| format!("/c/{i}/revoke")).collect(),
            vec![],
            vec![b"{}".to_vec()],
            200,
        )
        .unwrap();
        assert_eq!(revoke.items(), 3);
        assert_eq!(revoke.request(2).path, "/c/2/revoke");
        assert_eq!(&*revoke.request(2).body, b"{}");
    }
}
