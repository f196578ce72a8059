//! One-time passwords on an in-memory store: shown once, stored hashed, used at most
//! `max_uses` times (also under concurrency), expiry, deletion, audit records.

use std::sync::Arc;

use sigil_controlplane::config::CpConfig;
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::otps::{OtpRejected, MAX_ACTIVE_PER_ENTITY};
use sigil_controlplane::services::{ErrorKind, OtpError, Services};
use sigil_storage::{MemStore, Store};

fn services() -> (Arc<Services>, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store.clone(),
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    (Arc::new(a), store)
}

#[test]
fn create_list_use_and_delete() {
    let (a, store) = services();
    let (rec, otp) = a
        .otps
        .create_otp("device-001.example.com", 3600, 2)
        .unwrap();
    assert!(otp.len() >= 20);
    assert_eq!((rec.max_uses, rec.remaining_uses), (2, 2));
    assert_eq!(rec.expires - rec.created, 3600);
    // Only a salted hash is stored.
    let mut raw = Vec::new();
    store
        .scan(cf::OTPS, &[], None, &mut |_, v| {
            raw.extend_from_slice(v);
            true
        })
        .unwrap();
    assert!(!raw.windows(otp.len()).any(|w| w == otp.as_bytes()));

    assert_eq!(
        a.otps.use_otp("device-001.example.com", "wrong").unwrap(),
        Err(OtpRejected::Unknown)
    );
    assert_eq!(
        a.otps.use_otp("device-002.example.com", &otp).unwrap(),
        Err(OtpRejected::Unknown)
    );
    assert_eq!(
        a.otps
            .use_otp("device-001.example.com", &otp)
            .unwrap()
            .unwrap()
            .remaining_uses,
        1
    );
    assert_eq!(a.otps.active_otps().unwrap().len(), 1);
    assert_eq!(
        a.otps
            .use_otp("device-001.example.com", &otp)
            .unwrap()
            .unwrap()
            .remaining_uses,
        0
    );
    assert_eq!(
        a.otps.use_otp("device-001.example.com", &otp).unwrap(),
        Err(OtpRejected::UsedUp)
    );
    assert!(
        a.otps.active_otps().unwrap().is_empty(),
        "used up: not listed"
    );
    assert!(matches!(
        a.otps.delete_otp(&rec.id),
        Err(OtpError::NotFound { .. })
    ));

    let (other, secret) = a.otps.create_otp("device-003", 3600, 1).unwrap();
    a.otps.delete_otp(&other.id).unwrap();
    assert_eq!(
        a.otps.use_otp("device-003", &secret).unwrap(),
        Err(OtpRejected::Unknown)
    );
    assert!(matches!(
        a.otps.delete_otp(&other.id),
        Err(OtpError::NotFound { .. })
    ));

    let (_, total) = a
        .audit
        .list(1, u64::MAX, 1, 100, &|r| r.event.resource_type == "otp")
        .unwrap();
    assert_eq!(total, 5, "create ×2, use ×2, delete");
    let v = sigil_controlplane::audit::verify(store.as_ref(), 1, u64::MAX).unwrap();
    assert!(v.valid());
}

#[test]
fn expiry_and_bad_requests() {
    let (a, _) = services();
    let (_, otp) = a.otps.create_otp("short-lived", 1, 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        a.otps.use_otp("short-lived", &otp).unwrap(),
        Err(OtpRejected::Expired)
    );
    assert!(a.otps.active_otps().unwrap().is_empty());
    for (entity, ttl, uses) in [
        ("", 60, 1),
        ("x", 0, 1),
        ("x", 60, 0),
        ("x", 31 * 86_400, 1),
        ("a\nb", 60, 1),
    ] {
        assert!(
            matches!(
                a.otps.create_otp(entity, ttl, uses),
                Err(e) if e.kind() == ErrorKind::Invalid
            ),
            "{entity:?} {ttl} {uses}"
        );
    }
}

#[test]
fn a_single_use_otp_is_used_exactly_once_under_concurrency() {
    let (a, _) = services();
    let (_, otp) = a.otps.create_otp("racer", 3600, 1).unwrap();
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| a.otps.use_otp("racer", &otp).unwrap().is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(winners, 1);
}

#[test]
fn active_otps_per_entity_are_capped_and_each_still_works() {
    let (a, _) = services();
    let mut made = Vec::new();
    for _ in 0..MAX_ACTIVE_PER_ENTITY {
        made.push(a.otps.create_otp("busy", 3600, 2).unwrap());
    }
    let refused = a.otps.create_otp("busy", 3600, 1).unwrap_err();
    match &refused {
        e @ OtpError::TooManyActive { .. } => {
            assert_eq!(e.kind(), ErrorKind::Conflict);
            let m = e.to_string();
            assert!(m.contains("\"busy\""), "{m}");
            assert!(m.contains(&MAX_ACTIVE_PER_ENTITY.to_string()), "{m}");
        }
        e => panic!("expected Conflict, got {e:?}"),
    }
    // Trimmed like the stored entity id; other entities are not affected.
    assert!(matches!(
        a.otps.create_otp(" busy ", 3600, 1),
        Err(OtpError::TooManyActive { .. })
    ));
    let (_, other) = a.otps.create_otp("quiet", 3600, 1).unwrap();

    // Every one of the entity's OTPs is checked: the oldest, the newest and one in between.
    for (rec, secret) in [&made[0], &made[MAX_ACTIVE_PER_ENTITY - 1], &made[2]] {
        let used = a.otps.use_otp("busy", secret).unwrap().unwrap();
        assert_eq!(
            (used.id.as_str(), used.remaining_uses),
            (rec.id.as_str(), 1)
        );
    }
    assert_eq!(
        a.otps.use_otp("busy", &other).unwrap(),
        Err(OtpRejected::Unknown),
        "another entity's OTP"
    );
    assert_eq!(
        a.otps.use_otp("busy", "wrong").unwrap(),
        Err(OtpRejected::Unknown)
    );

    // A used-up OTP frees its slot (and is still reported as used up); so does a deletion.
    let secret = &made[1].1;
    a.otps.use_otp("busy", secret).unwrap().unwrap();
    a.otps.use_otp("busy", secret).unwrap().unwrap();
    assert_eq!(
        a.otps.use_otp("busy", secret).unwrap(),
        Err(OtpRejected::UsedUp)
    );
    let (_, sixth) = a.otps.create_otp("busy", 3600, 1).unwrap();
    assert!(a.otps.create_otp("busy", 3600, 1).is_err(), "full again");
    a.otps.delete_otp(&made[3].0.id).unwrap();
    let (_, seventh) = a.otps.create_otp("busy", 3600, 1).unwrap();
    for s in [&sixth, &seventh, &made[4].1] {
        assert!(a.otps.use_otp("busy", s).unwrap().is_ok());
    }
}
