//! The lookups' parameters (sans-io): a query string, or a POST body in
//! `application/x-www-form-urlencoded` (URL Standard §5.1: `&`-separated `name=value` pairs,
//! `+` for space, `%XX` escapes), both for a POST as Keyper's Flask `request.values` reads
//! them. Strict where Keyper's schemas are (unknown names refused) and stricter: a name given
//! twice, a broken escape, a value that is not UTF-8 after decoding or a value over
//! [`MAX_RAW_VALUE`] bytes is refused, and every value is
//! checked by `sigil_ssh::lookup`'s rules before anything is looked up. Since every name is
//! known and given once, a request holds at most four pairs.

use std::borrow::Cow;
use std::fmt;

use sigil_ssh::key::sha256_of_fingerprint;
use sigil_ssh::lookup::{parse_serial, valid_fingerprint, valid_hostname, valid_username};

/// Longest value before decoding: a host name of 253 bytes, every byte escaped, fits.
pub const MAX_RAW_VALUE: usize = 768;
/// Longest `keyid` (Sigil's key and certificate entry ids).
pub const MAX_KEYID: usize = 64;

/// Why a request's parameters were refused: 415 for a body of another media type, else 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    Missing(&'static str),
    Invalid(&'static str),
    Duplicate(&'static str),
    Unknown,
    Encoding,
    MediaType,
}

impl ParamError {
    pub fn status(self) -> u16 {
        match self {
            ParamError::MediaType => 415,
            _ => 400,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Missing(n) => write!(f, "missing parameter {n}"),
            ParamError::Invalid(n) => write!(f, "invalid parameter {n}"),
            ParamError::Duplicate(n) => write!(f, "parameter {n} given twice"),
            ParamError::Unknown => f.write_str("unknown parameter"),
            ParamError::Encoding => f.write_str("malformed form encoding"),
            ParamError::MediaType => f.write_str("body must be application/x-www-form-urlencoded"),
        }
    }
}

/// Where a request's parameters are: the query (after `?`), and a POST's body with its
/// `Content-Type`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    pub query: Option<&'a str>,
    pub body: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
}

/// Reads the pairs of `input` into `values`, one slot per name in `names`.
fn read<'a>(
    input: &Input<'a>,
    names: &[&'static str],
    values: &mut [Option<Cow<'a, str>>],
) -> Result<(), ParamError> {
    if let Some(q) = input.query {
        read_pairs(q, names, values)?;
    }
    if let Some(body) = input.body.filter(|b| !b.is_empty()) {
        if !input.content_type.is_some_and(is_form) {
            return Err(ParamError::MediaType);
        }
        let body = std::str::from_utf8(body).map_err(|_| ParamError::Encoding)?;
        read_pairs(body, names, values)?;
    }
    Ok(())
}

/// `application/x-www-form-urlencoded`, with or without parameters (`; charset=UTF-8`).
fn is_form(content_type: &[u8]) -> bool {
    let media = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
    media
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

fn read_pairs<'a>(
    text: &'a str,
    names: &[&'static str],
    values: &mut [Option<Cow<'a, str>>],
) -> Result<(), ParamError> {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name)?;
        let i = names
            .iter()
            .position(|n| *n == name)
            .ok_or(ParamError::Unknown)?;
        if value.len() > MAX_RAW_VALUE {
            return Err(ParamError::Invalid(names[i]));
        }
        if values[i].is_some() {
            return Err(ParamError::Duplicate(names[i]));
        }
        values[i] = Some(decode(value)?);
    }
    Ok(())
}

/// Percent-decoding with `+` as space; borrowed when there is nothing to decode.
pub fn decode(s: &str) -> Result<Cow<'_, str>, ParamError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ParamError::Encoding),
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| ParamError::Encoding)
}

fn required<'a>(
    v: &mut Option<Cow<'a, str>>,
    name: &'static str,
) -> Result<Cow<'a, str>, ParamError> {
    v.take().ok_or(ParamError::Missing(name))
}

fn checked<'a>(
    v: Cow<'a, str>,
    name: &'static str,
    ok: fn(&str) -> bool,
) -> Result<Cow<'a, str>, ParamError> {
    if ok(&v) {
        Ok(v)
    } else {
        Err(ParamError::Invalid(name))
    }
}

/// A `fingerprint` as sent: base64 holds `+`, which a client that does not escape it sends
/// as is and form decoding turns into a space. A fingerprint never holds a space, so a space
/// is read back as `+` (sshd's `%f` passed to `curl` unescaped still matches).
fn plus_restored(v: Cow<'_, str>) -> Cow<'_, str> {
    match v.contains(' ') {
        true => Cow::Owned(v.replace(' ', "+")),
        false => v,
    }
}

fn fingerprint(v: Option<Cow<'_, str>>) -> Result<Option<[u8; 32]>, ParamError> {
    v.map(|f| sha256_of_fingerprint(&plus_restored(f)).ok_or(ParamError::Invalid("fingerprint")))
        .transpose()
}

/// A `keyid`: 1 to [`MAX_KEYID`] ASCII letters, digits, `.`, `_`, `-`.
pub fn valid_keyid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_KEYID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `/api/authkeys`: `username`, `host` required; `fingerprint` (sshd's `%f`) optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeys<'a> {
    pub username: Cow<'a, str>,
    pub host: Cow<'a, str>,
    /// The SHA-256 the fingerprint names.
    pub fingerprint: Option<[u8; 32]>,
}

impl<'a> AuthKeys<'a> {
    pub fn parse(input: &Input<'a>) -> Result<Self, ParamError> {
        let mut v: [Option<Cow<'a, str>>; 3] = Default::default();
        read(input, &["username", "host", "fingerprint"], &mut v)?;
        let [username, host, fp] = &mut v;
        Ok(Self {
            username: checked(required(username, "username")?, "username", valid_username)?,
            host: checked(required(host, "host")?, "host", valid_hostname)?,
            fingerprint: fingerprint(fp.take())?,
        })
    }
}

/// `/api/authprinc`: `username`, `host`, `fingerprint` (`%f`) required (as Keyper's schema
/// has them); `serial` (`%s`) optional: without it there is no certificate to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPrinc<'a> {
    pub username: Cow<'a, str>,
    pub host: Cow<'a, str>,
    /// Canonical (one spelling per value: [`valid_fingerprint`]).
    pub fingerprint: Cow<'a, str>,
    pub serial: Option<u64>,
}

impl<'a> AuthPrinc<'a> {
    pub fn parse(input: &Input<'a>) -> Result<Self, ParamError> {
        let mut v: [Option<Cow<'a, str>>; 4] = Default::default();
        read(
            input,
            &["username", "host", "fingerprint", "serial"],
            &mut v,
        )?;
        let [username, host, fp, serial] = &mut v;
        Ok(Self {
            username: checked(required(username, "username")?, "username", valid_username)?,
            host: checked(required(host, "host")?, "host", valid_hostname)?,
            fingerprint: checked(
                plus_restored(required(fp, "fingerprint")?),
                "fingerprint",
                valid_fingerprint,
            )?,
            serial: serial
                .take()
                .map(|s| parse_serial(&s).ok_or(ParamError::Invalid("serial")))
                .transpose()?,
        })
    }
}

/// `/api/usercert` (`username`) and `/api/hostcert` (`hostname`), with optional `keyid` and
/// `fingerprint` (of the certified key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertQuery<'a> {
    pub name: Cow<'a, str>,
    pub keyid: Option<Cow<'a, str>>,
    pub fingerprint: Option<[u8; 32]>,
}

impl<'a> CertQuery<'a> {
    pub fn user(input: &Input<'a>) -> Result<Self, ParamError> {
        Self::parse(input, "username", valid_username)
    }

    pub fn host(input: &Input<'a>) -> Result<Self, ParamError> {
        Self::parse(input, "hostname", valid_hostname)
    }

    fn parse(
        input: &Input<'a>,
        name: &'static str,
        valid: fn(&str) -> bool,
    ) -> Result<Self, ParamError> {
        let mut v: [Option<Cow<'a, str>>; 3] = Default::default();
        read(input, &[name, "keyid", "fingerprint"], &mut v)?;
        let [n, keyid, fp] = &mut v;
        Ok(Self {
            name: checked(required(n, name)?, name, valid)?,
            keyid: keyid
                .take()
                .map(|k| checked(k, "keyid", valid_keyid))
                .transpose()?,
            fingerprint: fingerprint(fp.take())?,
        })
    }
}

#[cfg(test)]
mod tests;
