//! Key objects on a token: lookup by label (and `CKA_ID`), generation inside the token
//! (non-extractable, sensitive), and the public key as a SubjectPublicKeyInfo.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::encoding::{alg_of_ec_params, ec_params, ec_spki, modulus_bits, rsa_alg, rsa_spki};
use super::P11Error;
use crate::crypto::KeyAlgorithm;

/// Which key on a token: `CKA_LABEL`, and `CKA_ID` when several keys share a label
/// (delegated OCSP responder keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyLocator {
    pub label: String,
    pub id: Option<Vec<u8>>,
}

impl KeyLocator {
    pub fn label(label: &str) -> Self {
        Self {
            label: label.to_string(),
            id: None,
        }
    }

    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![
            Attribute::Class(class),
            Attribute::Label(self.label.as_bytes().to_vec()),
        ];
        if let Some(id) = &self.id {
            t.push(Attribute::Id(id.clone()));
        }
        t
    }
}

impl std::fmt::Display for KeyLocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{:?} (id {})", self.label, hex::encode(id)),
            None => write!(f, "{:?}", self.label),
        }
    }
}

/// A private key found on a token, with its algorithm and public key.
#[derive(Debug, Clone)]
pub struct FoundKey {
    pub private: ObjectHandle,
    pub public: Option<ObjectHandle>,
    pub alg: KeyAlgorithm,
    /// `None` when the token keeps no public key object and the private key does not carry
    /// the public part (EC).
    pub spki: Option<Vec<u8>>,
}

fn key_err(token: &str, detail: String) -> P11Error {
    P11Error::Key {
        token: token.to_string(),
        detail,
    }
}

fn find_one(
    session: &Session,
    token: &str,
    key: &KeyLocator,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, P11Error> {
    let found = session
        .find_objects(&key.template(class))
        .map_err(|e| P11Error::call(token, "C_FindObjects", e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(key_err(
            token,
            format!("{} {class} objects labelled {key}: ambiguous", many.len()),
        )),
    }
}

fn attrs(
    session: &Session,
    token: &str,
    obj: ObjectHandle,
    types: &[AttributeType],
) -> Result<Vec<Attribute>, P11Error> {
    session
        .get_attributes(obj, types)
        .map_err(|e| P11Error::call(token, "C_GetAttributeValue", e))
}

/// The algorithm and (if readable) SubjectPublicKeyInfo of a key pair.
fn describe(
    session: &Session,
    token: &str,
    private: ObjectHandle,
    public: Option<ObjectHandle>,
) -> Result<(KeyAlgorithm, Option<Vec<u8>>), P11Error> {
    let mut key_type = None;
    let mut params = None;
    for a in attrs(
        session,
        token,
        private,
        &[AttributeType::KeyType, AttributeType::EcParams],
    )? {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            _ => {}
        }
    }
    let key_type =
        key_type.ok_or_else(|| key_err(token, "private key has no CKA_KEY_TYPE".into()))?;
    if key_type == KeyType::RSA {
        let src = public.unwrap_or(private);
        let (mut n, mut e) = (None, None);
        for a in attrs(
            session,
            token,
            src,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )? {
            match a {
                Attribute::Modulus(m) => n = Some(m),
                Attribute::PublicExponent(x) => e = Some(x),
                _ => {}
            }
        }
        let (n, e) = n
            .zip(e)
            .ok_or_else(|| key_err(token, "RSA key without modulus/exponent".into()))?;
        let bits = modulus_bits(&n);
        let alg = rsa_alg(bits)
            .ok_or_else(|| P11Error::Unsupported(format!("RSA key of {bits} bits")))?;
        return Ok((alg, Some(rsa_spki(&n, &e))));
    }
    if key_type != KeyType::EC && key_type != KeyType::EC_EDWARDS {
        return Err(P11Error::Unsupported(format!("key type {key_type}")));
    }
    let params = params.ok_or_else(|| key_err(token, "EC key without CKA_EC_PARAMS".into()))?;
    let alg = alg_of_ec_params(&params)
        .ok_or_else(|| P11Error::Unsupported("EC key on an unsupported curve".into()))?;
    let Some(public) = public else {
        return Ok((alg, None));
    };
    let point = attrs(session, token, public, &[AttributeType::EcPoint])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| key_err(token, "public key without CKA_EC_POINT".into()))?;
    let spki = ec_spki(alg, &point)
        .ok_or_else(|| key_err(token, "public key has a malformed CKA_EC_POINT".into()))?;
    Ok((alg, Some(spki)))
}

/// Finds the private key (and its public key object if any).
pub fn find(
    session: &Session,
    token: &str,
    key: &KeyLocator,
) -> Result<Option<FoundKey>, P11Error> {
    let Some(private) = find_one(session, token, key, ObjectClass::PRIVATE_KEY)? else {
        return Ok(None);
    };
    let public = find_one(session, token, key, ObjectClass::PUBLIC_KEY)?;
    let (alg, spki) = describe(session, token, private, public)?;
    Ok(Some(FoundKey {
        private,
        public,
        alg,
        spki,
    }))
}

/// Generates a key pair inside the token: the private key is a token object, private,
/// sensitive and not extractable, usable only to sign.
pub fn generate(
    session: &Session,
    token: &str,
    key: &KeyLocator,
    alg: KeyAlgorithm,
) -> Result<FoundKey, P11Error> {
    let label = Attribute::Label(key.label.as_bytes().to_vec());
    let id = Attribute::Id(key.id.clone().unwrap_or_else(|| {
        let mut r = [0u8; 16];
        let _ = aws_lc_rs::rand::fill(&mut r);
        r.to_vec()
    }));
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        label.clone(),
        id.clone(),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Derive(false),
        label,
        id,
    ];
    let mechanism = match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => Mechanism::EccKeyPairGen,
        KeyAlgorithm::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
        _ => Mechanism::RsaPkcsKeyPairGen,
    };
    match ec_params(alg) {
        Some(p) => public.push(Attribute::EcParams(p)),
        None => {
            let bits = alg.rsa_bits().unwrap_or(4096) as u64;
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        }
    }
    let (pub_h, priv_h) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| P11Error::call(token, "C_GenerateKeyPair", e))?;
    let (got, spki) = describe(session, token, priv_h, Some(pub_h))?;
    if !got.same_key_type(alg) {
        return Err(key_err(
            token,
            format!("generated {} key, wanted {}", got.name(), alg.name()),
        ));
    }
    Ok(FoundKey {
        private: priv_h,
        public: Some(pub_h),
        alg,
        spki,
    })
}

/// Sets `CKA_ID` of a key pair (to the subjectKeyIdentifier, as PKCS#11 tools expect).
pub fn set_id(session: &Session, token: &str, found: &FoundKey, id: &[u8]) -> Result<(), P11Error> {
    for h in std::iter::once(found.private).chain(found.public) {
        session
            .update_attributes(h, &[Attribute::Id(id.to_vec())])
            .map_err(|e| P11Error::call(token, "C_SetAttributeValue", e))?;
    }
    Ok(())
}

/// Destroys the key pairs labelled `label` whose `CKA_ID` is not in `keep`.
pub fn destroy_others(
    session: &Session,
    token: &str,
    label: &str,
    keep: &[Vec<u8>],
) -> Result<usize, P11Error> {
    let mut n = 0;
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let objs = session
            .find_objects(&KeyLocator::label(label).template(class))
            .map_err(|e| P11Error::call(token, "C_FindObjects", e))?;
        for o in objs {
            let id = attrs(session, token, o, &[AttributeType::Id])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Id(i) => Some(i),
                    _ => None,
                })
                .unwrap_or_default();
            if !keep.contains(&id) {
                session
                    .destroy_object(o)
                    .map_err(|e| P11Error::call(token, "C_DestroyObject", e))?;
                n += 1;
            }
        }
    }
    Ok(n)
}
