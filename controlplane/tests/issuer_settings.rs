//! Issuer settings in process: a disable waits for issuances already under way and, once it
//! returns, no issuance of that issuer commits; enabling again resumes issuance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use der::Encode;
use sigil_controlplane::config::CpConfig;
use sigil_controlplane::crypto::{KeyAlgorithm, Signer, SoftwareSigner};
use sigil_controlplane::db::cf;
use sigil_controlplane::metrics::Metrics;
use sigil_controlplane::services::certificates::IssueRequest;
use sigil_controlplane::services::issuers::IssuerUpdate;
use sigil_controlplane::services::{CertError, IssuerError, Services};
use sigil_storage::{MemStore, Store};
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

fn services() -> Arc<Services> {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(cf::ALL));
    let (a, _) = Services::open(
        store,
        CpConfig::default(),
        Metrics::new(),
        Arc::new(sigil_kes::Kek::new("kek-test", [7; 32])),
    )
    .unwrap();
    a.issuers.init_demo().unwrap();
    Arc::new(a)
}

fn csr_der(cn: &str) -> Vec<u8> {
    use der::Decode;
    let (signer, _) = SoftwareSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: sigil_controlplane::x509::parse_name(&format!("CN={cn}")).unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap(),
        attributes: Default::default(),
    };
    let sig = signer.sign(&info.to_der().unwrap()).unwrap();
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned::from_der(signer.signature_algorithm_der()).unwrap(),
        signature: der::asn1::BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn request(csr: &[u8]) -> IssueRequest {
    IssueRequest {
        issuer_id: "demo".into(),
        csr: csr.to_vec(),
        validity_days: None,
        profile: None,
    }
}

fn set_enabled(a: &Services, enabled: bool) {
    let u: IssuerUpdate =
        serde_json::from_value(serde_json::json!({ "enabled": enabled })).unwrap();
    a.issuers.update_issuer("demo", &u).unwrap();
}

#[test]
fn nothing_commits_after_a_disable_returns() {
    let a = services();
    let csr = csr_der("race.example.com");
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (a, stop, csr) = (a.clone(), stop.clone(), csr.clone());
            std::thread::spawn(move || {
                let (mut issued, mut refused) = (0u32, 0u32);
                while !stop.load(Ordering::Relaxed) {
                    match a.certificates.issue(request(&csr)) {
                        Ok(_) => issued += 1,
                        Err(CertError::Issuer(e @ IssuerError::Disabled { .. })) => {
                            let m = e.to_string();
                            assert!(m.contains("disabled"), "{m}");
                            refused += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                (issued, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    set_enabled(&a, false);
    let at_disable = a.certificates.count_issued("demo").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let (mut issued, mut refused) = (0, 0);
    for w in workers {
        let (i, r) = w.join().unwrap();
        issued += i;
        refused += r;
    }
    assert!(
        issued > 0 && refused > 0,
        "issued {issued}, refused {refused}"
    );
    assert_eq!(a.certificates.count_issued("demo").unwrap(), at_disable);
    assert_eq!(u64::from(issued), at_disable);
    assert!(a.issuers.issuer_settings("demo").unwrap().disabled);

    // The refusal happens before anything is signed, and enabling resumes issuance.
    assert!(matches!(
        a.certificates.check_issue(&request(&csr)),
        Err(CertError::Issuer(IssuerError::Disabled { .. }))
    ));
    set_enabled(&a, true);
    a.certificates.issue(request(&csr)).unwrap();
    assert_eq!(a.certificates.count_issued("demo").unwrap(), at_disable + 1);
}
