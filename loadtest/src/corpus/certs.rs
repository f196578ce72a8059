//! A corpus from certificate files: the issuing CA's certificate and leaf certificates (PEM,
//! possibly several per file, or DER), given one by one or as directories.

use std::path::{Path, PathBuf};

use base64::Engine;
use sigil_shared::ocsp::{encode_request, issuer_hashes, CertIdFields, HashAlg};

use super::{Corpus, CorpusError};
use crate::ocsp_der::certificate_serial;

/// Every certificate in a file: PEM `CERTIFICATE` blocks, or the file as one DER certificate.
pub fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, CorpusError> {
    let bytes = std::fs::read(path).map_err(|source| CorpusError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes]);
    }
    let text = String::from_utf8_lossy(&bytes);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match (&mut block, line) {
            (None, "-----BEGIN CERTIFICATE-----") => block = Some(String::new()),
            (Some(b), "-----END CERTIFICATE-----") => {
                let der = b64.decode(b.as_bytes()).map_err(|_| {
                    CorpusError::Certificate(format!("{}: bad PEM base64", path.display()))
                })?;
                out.push(der);
                block = None;
            }
            (Some(b), l) => b.push_str(l),
            (None, _) => {}
        }
    }
    Ok(out)
}

/// Files given on the command line: regular files as they are, directories expanded to their
/// regular files (not recursively) in name order.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CorpusError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let io = |source| CorpusError::Io {
                path: p.display().to_string(),
                source,
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One request per certificate and hash algorithm. `issuer_id` is only written into the
/// header. Files (from directories) holding no certificate are skipped, as is the issuer's
/// own certificate.
pub fn from_certificates(
    issuer_pem: &Path,
    issuer_id: Option<&str>,
    certs: &[PathBuf],
    hashes: &[HashAlg],
) -> Result<Corpus, CorpusError> {
    let issuer = read_certificates(issuer_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CorpusError::Certificate(format!("{}: no certificate", issuer_pem.display()))
        })?;
    let bad = |e| CorpusError::Certificate(format!("{}: {e}", issuer_pem.display()));
    let issuer_hashes: Vec<_> = hashes
        .iter()
        .map(|a| issuer_hashes(&issuer, *a).map_err(bad))
        .collect::<Result<_, _>>()?;
    let mut corpus = Corpus::default();
    let name = issuer_id.map_or_else(|| issuer_pem.display().to_string(), str::to_owned);
    corpus.header.push(("issuer".into(), name));
    corpus.header.push(("hash".into(), hash_names(hashes)));
    corpus
        .header
        .push(("source".into(), "certificate files".into()));
    for file in expand_paths(certs)? {
        for der in read_certificates(&file)? {
            if der == issuer {
                continue;
            }
            let serial = certificate_serial(&der)
                .map_err(|e| CorpusError::Certificate(format!("{}: {e}", file.display())))?;
            for h in &issuer_hashes {
                let req =
                    encode_request(&[CertIdFields::new(h.alg, &h.name_hash, &h.key_hash, serial)]);
                corpus.requests.push(req);
            }
        }
    }
    if corpus.requests.is_empty() {
        return Err(CorpusError::Empty);
    }
    Ok(corpus)
}

/// `sha1,sha256`.
pub fn hash_names(hashes: &[HashAlg]) -> String {
    let names: Vec<&str> = hashes.iter().map(|h| h.name()).collect();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_controlplane::ca::{create_ca, NewCa};
    use sigil_controlplane::crypto::KeyAlgorithm;
    use sigil_controlplane::x509;
    use sigil_shared::ocsp::{decode_request, CertIdKey};

    fn ca_der(name: &str) -> Vec<u8> {
        let now = sigil_shared::time::now_unix();
        let new = NewCa {
            id: name.into(),
            name: name.into(),
            subject: x509::parse_name(&format!("CN={name}")).unwrap(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            not_before: now - 60,
            not_after: now + 86_400,
        };
        create_ca(&new, None, now).unwrap().record.cert_der
    }

    #[test]
    fn requests_from_pem_and_der_files_and_directories() {
        let dir = std::env::temp_dir().join(format!("sigil-load-certs-{}", std::process::id()));
        let leaves = dir.join("leaves");
        std::fs::create_dir_all(&leaves).unwrap();
        let (issuer, a, b) = (ca_der("issuer"), ca_der("a"), ca_der("b"));
        let issuer_pem = dir.join("issuer.pem");
        std::fs::write(&issuer_pem, x509::cert_pem(&issuer)).unwrap();
        // Two certificates in one PEM file, one DER file, the issuer itself, a non-certificate.
        let two = format!("{}{}", x509::cert_pem(&a), x509::cert_pem(&b));
        std::fs::write(leaves.join("two.pem"), two).unwrap();
        std::fs::write(leaves.join("b.der"), &b).unwrap();
        std::fs::write(leaves.join("issuer.pem"), x509::cert_pem(&issuer)).unwrap();
        std::fs::write(leaves.join("notes.txt"), "not a certificate\n").unwrap();

        let hashes = HashAlg::ALL;
        let c = from_certificates(
            &issuer_pem,
            Some("iss"),
            std::slice::from_ref(&leaves),
            &hashes,
        )
        .unwrap();
        assert_eq!(c.header_values("issuer"), vec!["iss"]);
        assert_eq!(c.header_values("hash"), vec!["sha1,sha256"]);
        assert_eq!(c.requests.len(), 3 * 2);
        let serials = [&b, &a, &b].map(|d| certificate_serial(d).unwrap().to_vec());
        for (i, req) in c.requests.iter().enumerate() {
            let (serial, alg) = (&serials[i / 2], hashes[i % 2]);
            let h = issuer_hashes(&issuer, alg).unwrap();
            let key = decode_request(req).unwrap().certs[0].key().unwrap();
            assert_eq!(key, CertIdKey::new(alg, &h.name_hash, &h.key_hash, serial));
        }
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            from_certificates(&issuer_pem, None, &[empty], &hashes),
            Err(CorpusError::Empty)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
