use proptest::prelude::*;

use super::*;

const FP: &str = "SHA256:wLoTV/W0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ";
/// `FP` as a form encoder writes it.
const FP_ESCAPED: &str = "SHA256%3AwLoTV%2FW0vVoiJm3JKwOldswCd0LCdPngoYs6oPR83CQ";
const FORM: &[u8] = b"application/x-www-form-urlencoded";

fn query(q: &str) -> Input<'_> {
    Input {
        query: Some(q),
        ..Input::default()
    }
}

fn post<'a>(q: Option<&'a str>, body: &'a [u8], ct: &'a [u8]) -> Input<'a> {
    Input {
        query: q,
        body: Some(body),
        content_type: Some(ct),
    }
}

#[test]
fn authkeys_from_query_or_form() {
    let want = AuthKeys {
        username: "alice".into(),
        host: "web-1.example.org".into(),
        fingerprint: sha256_of_fingerprint(FP),
    };
    let q = format!("username=alice&host=web-1.example.org&fingerprint={FP_ESCAPED}");
    assert_eq!(AuthKeys::parse(&query(&q)), Ok(want.clone()));
    // Unescaped `:` and `/` are fine in a query; empty pairs are skipped.
    let q = format!("&username=alice&&host=web-1.example.org&fingerprint={FP}&");
    assert_eq!(AuthKeys::parse(&query(&q)), Ok(want.clone()));
    // A form body, with its charset parameter; the query may carry some of the pairs.
    let body = format!("host=web-1.example.org&fingerprint={FP_ESCAPED}");
    let input = post(
        Some("username=alice"),
        body.as_bytes(),
        b"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    );
    assert_eq!(AuthKeys::parse(&input), Ok(want));
    // A `+` left unescaped (form-decoded to a space) still names the fingerprint.
    let plus = "SHA256:89KzcF/hqGg6S0qtvH2Wn6FfpnuAG6BGrNOWarGBG20".replace('K', "+");
    let q = format!("username=a&host=h&fingerprint={plus}");
    let got = AuthKeys::parse(&query(&q)).unwrap();
    assert_eq!(got.fingerprint, sha256_of_fingerprint(&plus));
    assert_eq!(AuthPrinc::parse(&query(&q)).unwrap().fingerprint, plus);
    // Without a fingerprint.
    let got = AuthKeys::parse(&query("username=bob&host=h")).unwrap();
    assert_eq!((got.username.as_ref(), got.fingerprint), ("bob", None));
    // An empty body needs no content type.
    let input = post(Some("username=bob&host=h"), b"", b"");
    assert!(AuthKeys::parse(&input).is_ok());
}

#[test]
fn refusals() {
    use ParamError::*;
    let cases: &[(&str, ParamError)] = &[
        ("", Missing("username")),
        ("username=alice", Missing("host")),
        ("host=h", Missing("username")),
        ("username=&host=h", Invalid("username")),
        ("username&host=h", Invalid("username")),
        ("username=Alice&host=h", Invalid("username")),
        ("username=alice+x&host=h", Invalid("username")),
        ("username=alice%0a&host=h", Invalid("username")),
        ("username=al%69ce&host=h_x", Invalid("host")),
        (
            "username=alice&host=h&fingerprint=MD5:00",
            Invalid("fingerprint"),
        ),
        ("username=alice&host=h&fingerprint=", Invalid("fingerprint")),
        (
            "username=alice&username=alice&host=h",
            Duplicate("username"),
        ),
        ("username=alice&host=h&serial=1", Unknown),
        ("username=alice&host=h&x", Unknown),
        ("username=alice&host=h%zz", Encoding),
        ("username=alice&host=h%4", Encoding),
        ("username=alice&host=%ff", Encoding),
    ];
    for (q, want) in cases {
        assert_eq!(AuthKeys::parse(&query(q)), Err(*want), "{q}");
    }
    // Many pairs: every name is known and given once, so the fifth pair is refused at the latest.
    let many = "fingerprint=x&".repeat(100);
    assert_eq!(
        AuthKeys::parse(&query(&many)),
        Err(Duplicate("fingerprint"))
    );
    let many = "&a".repeat(100);
    assert_eq!(AuthKeys::parse(&query(&many)), Err(Unknown));
    let long = format!("username=alice&host={}", "a".repeat(MAX_RAW_VALUE + 1));
    assert_eq!(AuthKeys::parse(&query(&long)), Err(Invalid("host")));
    // A name given in the query and again in the body.
    let input = post(Some("username=alice"), b"username=bob&host=h", FORM);
    assert_eq!(AuthKeys::parse(&input), Err(Duplicate("username")));
    // Bodies of other media types, or none declared.
    for ct in [
        &b"application/json"[..],
        b"text/plain",
        b"multipart/form-data",
    ] {
        let input = post(None, b"username=alice&host=h", ct);
        assert_eq!(AuthKeys::parse(&input), Err(MediaType));
        assert_eq!(MediaType.status(), 415);
    }
    let input = Input {
        body: Some(b"username=alice&host=h"),
        ..Input::default()
    };
    assert_eq!(AuthKeys::parse(&input), Err(MediaType));
    let input = post(None, b"username=alice&host=\xff", FORM);
    assert_eq!(AuthKeys::parse(&input), Err(Encoding));
    assert_eq!(Missing("host").to_string(), "missing parameter host");
    assert_eq!(Missing("host").status(), 400);
}

#[test]
fn authprinc_and_certificates() {
    let q = format!("username=alice&host=h&fingerprint={FP}&serial=77");
    let p = AuthPrinc::parse(&query(&q)).unwrap();
    assert_eq!((p.fingerprint.as_ref(), p.serial), (FP, Some(77)));
    let q = format!("username=alice&host=h&fingerprint={FP}");
    assert_eq!(AuthPrinc::parse(&query(&q)).unwrap().serial, None);
    assert_eq!(
        AuthPrinc::parse(&query("username=alice&host=h&serial=1")),
        Err(ParamError::Missing("fingerprint"))
    );
    for serial in ["01", "-1", "18446744073709551616", "", "0x1"] {
        let q = format!("username=alice&host=h&fingerprint={FP}&serial={serial}");
        assert_eq!(
            AuthPrinc::parse(&query(&q)),
            Err(ParamError::Invalid("serial")),
            "{serial}"
        );
    }

    let c = CertQuery::user(&query("username=alice&keyid=c-1")).unwrap();
    assert_eq!(
        (c.name.as_ref(), c.keyid.as_deref()),
        ("alice", Some("c-1"))
    );
    let q = format!("hostname=web-1&fingerprint={FP}");
    let c = CertQuery::host(&query(&q)).unwrap();
    assert_eq!(c.fingerprint, sha256_of_fingerprint(FP));
    assert_eq!(
        CertQuery::user(&query("hostname=web-1")),
        Err(ParamError::Unknown)
    );
    assert_eq!(
        CertQuery::host(&query("hostname=web-1&keyid=a%20b")),
        Err(ParamError::Invalid("keyid"))
    );
    assert_eq!(
        CertQuery::host(&query(&format!("hostname=web-1&keyid={}", "k".repeat(65)))),
        Err(ParamError::Invalid("keyid"))
    );
}

#[test]
fn percent_decoding() {
    assert!(matches!(decode("plain"), Ok(Cow::Borrowed("plain"))));
    assert_eq!(decode("a+b%20c%2B%3a").unwrap(), "a b c+:");
    assert_eq!(decode("%C3%A9").unwrap(), "é");
    for bad in ["%", "%2", "%g0", "%C3"] {
        assert_eq!(decode(bad), Err(ParamError::Encoding), "{bad}");
    }
}

proptest! {
    /// Whatever arrives, parsing answers (no panic), and what it accepts is valid.
    #[test]
    fn no_input_panics(
        q in proptest::option::of("[a-z=&%+0-9A-F:/._-]{0,120}|\\PC{0,80}"),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..120)),
        form in any::<bool>(),
    ) {
        let input = Input {
            query: q.as_deref(),
            body: body.as_deref(),
            content_type: form.then_some(FORM),
        };
        if let Ok(p) = AuthKeys::parse(&input) {
            prop_assert!(valid_username(&p.username) && valid_hostname(&p.host));
        }
        if let Ok(p) = AuthPrinc::parse(&input) {
            prop_assert!(valid_fingerprint(&p.fingerprint));
        }
        if let Ok(c) = CertQuery::host(&input) {
            prop_assert!(valid_hostname(&c.name));
            prop_assert!(c.keyid.as_deref().is_none_or(valid_keyid));
        }
        let _ = CertQuery::user(&input);
    }

    /// Any value a form encoder writes comes back as it was.
    #[test]
    fn escaped_values_round_trip(v in "\\PC{0,40}") {
        let mut escaped = String::new();
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() {
                escaped.push(b as char);
            } else if b == b' ' {
                escaped.push('+');
            } else {
                escaped.push_str(&format!("%{b:02X}"));
            }
        }
        prop_assert_eq!(decode(&escaped).unwrap(), v);
    }
}
