//! PEM text encoding (RFC 7468) of DER certificates, as returned by the admin API and served
//! at the data plane's `/ca/{id}.pem`.

use base64::Engine;

/// `-----BEGIN CERTIFICATE-----`, base64 in 64-character lines (RFC 7468 §2), `-----END…`.
pub fn certificate(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_64_characters() {
        let pem = super::certificate(&[0xab; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        // 100 bytes are 136 base64 characters: lines of 64, 64 and 8.
        assert_eq!(
            lines[1..4].iter().map(|l| l.len()).collect::<Vec<_>>(),
            vec![64, 64, 8]
        );
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
        assert_eq!(lines.len(), 5);
    }
}
