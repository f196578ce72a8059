//! sigil-authkeys, sshd's helper: what a data plane (or anything listening at its address)
//! answers, and the cache files it reads back after an outage.

use sigil_authkeys::answer::{key_line, keys, principals};
use sigil_authkeys::cache::{seal, unseal};
use sigil_authkeys::fetch::parse as parse_response;
use sigil_ssh::krl::Krl;

const NOW: i64 = 1_700_000_000;

/// Any bytes as the HTTP response to the helper's GET, and as a cache file. The body of a
/// 200 is at most what follows the head; what passes the line checks for sshd is a fixed
/// point of them (every line a key line or a principal), and a KRL revoking those keys
/// drops them all. A cache file unseals only if sealing its data gives it back.
pub fn authkeys_answer(data: &[u8]) {
    if let Ok(body) = parse_response(data) {
        assert!(body.len() < data.len());
        answer(&String::from_utf8_lossy(&body));
    }
    answer(&String::from_utf8_lossy(data));
    if let Some(inner) = unseal(data) {
        assert_eq!(seal(inner), data);
    }
    assert_eq!(unseal(&seal(data)), Some(data));
}

fn answer(text: &str) {
    let (passed, _) = keys(text, None, NOW);
    assert_eq!(keys(&passed, None, NOW), (passed.clone(), 0));
    let mut krl = Krl::new(1, 0);
    let mut lines = 0;
    for line in passed.lines() {
        let k = key_line(line).expect("a passed line is a key line");
        assert!(k.expires_at.is_none_or(|t| t > NOW));
        krl.revoke_key(k.key.sha256);
        lines += 1;
    }
    assert_eq!(keys(&passed, Some(&krl), NOW), (String::new(), lines));
    let (names, _) = principals(text);
    assert_eq!(principals(&names), (names.clone(), 0));
    assert!(names.lines().all(|n| !n.contains(char::is_whitespace)));
}
