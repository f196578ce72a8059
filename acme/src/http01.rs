//! The http-01 check (RFC 8555 §8.3): the request to send and the verdict on the answer.

/// Largest answer read (the key authorization is ~90 bytes; headers fit easily).
pub const MAX_RESPONSE: usize = 16 * 1024;

/// The request line and headers for `token` at `host` (the identifier, as `Host`).
pub fn request(host: &str, token: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!(
        "GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sigil-acme\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// Whether `response` (the whole HTTP/1.x answer, read to the connection's close) is a 200
/// whose body, trailing whitespace removed, equals `key_authorization`. `Err` carries the
/// detail for the challenge's `incorrectResponse`/`connection` problem.
pub fn check(response: &[u8], key_authorization: &str) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let body_at = match r.parse(response) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("the HTTP answer ended in its headers".into()),
        Err(e) => return Err(format!("the HTTP answer is malformed: {e}")),
    };
    let code = r.code.unwrap_or(0);
    if code != 200 {
        return Err(format!("the challenge URL answered {code}, not 200"));
    }
    let chunked = r.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    let mut body = &response[body_at..];
    let dechunked;
    if chunked {
        dechunked = dechunk(body).ok_or("malformed chunked body")?;
        body = &dechunked;
    } else if let Some(len) = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = std::str::from_utf8(len.value)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or("malformed Content-Length")?;
        body = body
            .get(..len)
            .ok_or("the body is shorter than its Content-Length")?;
    }
    let got = String::from_utf8_lossy(body);
    let got = got.trim_end();
    if got == key_authorization {
        Ok(())
    } else {
        let shown: String = got.chars().take(100).collect();
        Err(format!(
            "the key authorization is {key_authorization:?}, the answer was {shown:?}"
        ))
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let ka = "tok.thumb";
        assert!(check(
            b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\ntok.thumb\n",
            ka
        )
        .is_ok());
        assert!(check(b"HTTP/1.1 200 OK\r\n\r\ntok.thumb", ka).is_ok());
        assert!(check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntok.\r\n5\r\nthumb\r\n0\r\n\r\n", ka).is_ok());
        assert!(check(b"HTTP/1.1 404 Not Found\r\n\r\n", ka).is_err());
        assert!(check(b"HTTP/1.1 200 OK\r\n\r\ntok.other", ka).is_err());
        assert!(check(b"garbage", ka).is_err());
        assert!(request("::1", "t").contains("Host: [::1]\r\n"));
    }
}
