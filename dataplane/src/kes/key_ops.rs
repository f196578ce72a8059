//! Key operations answered from the core's keyring: describe, list, generate, encrypt,
//! decrypt, HMAC (minio/kes `server.go` and `internal/crypto`, as facts). The key lookup
//! borrows the request's name: no allocation before the AEAD.

use aws_lc_rs::rand::SecureRandom;
use sigil_kes::key::KEY_SIZE;
use sigil_kes::name::{lists, valid_name, valid_pattern};
use sigil_kes::RANDOM_SIZE;
use std::borrow::Cow;

use super::handler::{
    invalid_name, invalid_pattern, reply_json, Ctx, Fail, KesHandler, KEY_NOT_FOUND,
};
use super::keyring::{Key, KeyVersion, MAX_DECRYPT_VERSIONS};
use super::wire::{self, push_b64_field};
use crate::http::ResponseWriter;

const INVALID_BODY: Fail = Fail(400, Cow::Borrowed("invalid request body"));
const NOT_AUTHENTIC: Fail = Fail(
    400,
    Cow::Borrowed("decryption failed: ciphertext is not authentic"),
);
const NO_VERSION: Fail = Fail(400, Cow::Borrowed("key version does not exist"));

fn key<'a>(ctx: &'a Ctx<'_, '_>) -> Result<&'a Key, Fail> {
    if !valid_name(ctx.resource) {
        return Err(invalid_name("key", ctx.resource));
    }
    ctx.ring
        .key(ctx.resource)
        .map(|k| &**k)
        .ok_or(KEY_NOT_FOUND)
}

/// The version a request names, or the newest.
fn pick<'k>(key: &'k Key, version: &Option<String>) -> Result<&'k KeyVersion, Fail> {
    match wire::version(version) {
        Ok(None) => Ok(key.newest()),
        Ok(Some(v)) => key.version(v).ok_or(NO_VERSION),
        Err(()) => Err(INVALID_BODY),
    }
}

impl KesHandler {
    fn random(&self) -> Result<[u8; RANDOM_SIZE], Fail> {
        let mut r = [0u8; RANDOM_SIZE];
        self.rng
            .fill(&mut r)
            .map_err(|_| Fail(500, Cow::Borrowed("failed to encrypt plaintext")))?;
        Ok(r)
    }

    pub(super) fn describe_key(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let key = key(ctx)?;
        let newest = key.newest();
        let versions: Vec<_> = key
            .versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "version": v.version,
                    "algorithm": v.material.key.algorithm().name(),
                    "created_at": sigil_shared::time::rfc3339(v.created_at),
                })
            })
            .collect();
        let body = serde_json::json!({
            "name": key.name,
            "algorithm": newest.material.key.algorithm().name(),
            "created_at": sigil_shared::time::rfc3339(key.created_at),
            "created_by": key.created_by,
            "versions": versions,
        });
        Ok(reply_json(resp, &wire::json_body(&body)))
    }

    pub(super) fn list_keys(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let pattern = ctx.resource;
        if !valid_pattern(pattern) {
            return Err(invalid_pattern(pattern));
        }
        let names: Vec<&str> = ctx.ring.key_names().filter(|n| lists(pattern, n)).collect();
        let body = serde_json::json!({ "names": names, "continue_at": "" });
        Ok(reply_json(resp, &wire::json_body(&body)))
    }

    pub(super) fn generate(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let key = key(ctx)?;
        let req: wire::GenerateRequest = wire::parse(ctx.req.body).ok_or(INVALID_BODY)?;
        let version = pick(key, &req.version)?;
        let mut plaintext = [0u8; KEY_SIZE];
        self.rng
            .fill(&mut plaintext)
            .map_err(|_| Fail(500, Cow::Borrowed("failed to generate key")))?;
        let ciphertext = version
            .material
            .key
            .encrypt(&plaintext, &req.context, &self.random()?);
        let mut body = Vec::with_capacity(64 + 2 * ciphertext.len());
        body.push(b'{');
        push_b64_field(&mut body, "plaintext", &plaintext);
        body.push(b',');
        push_b64_field(&mut body, "ciphertext", &ciphertext);
        body.extend_from_slice(b"}\n");
        Ok(reply_json(resp, &body))
    }

    pub(super) fn encrypt(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let key = key(ctx)?;
        let req: wire::EncryptRequest = wire::parse(ctx.req.body).ok_or(INVALID_BODY)?;
        let version = pick(key, &req.version)?;
        let ciphertext =
            version
                .material
                .key
                .encrypt(&req.plaintext, &req.context, &self.random()?);
        let mut body = Vec::with_capacity(32 + 2 * ciphertext.len());
        body.push(b'{');
        push_b64_field(&mut body, "ciphertext", &ciphertext);
        body.extend_from_slice(b"}\n");
        Ok(reply_json(resp, &body))
    }

    /// Decrypts with the version named, or tries the newest versions in turn (a key rotated
    /// keeps decrypting what its older versions encrypted).
    pub(super) fn decrypt(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let key = key(ctx)?;
        let req: wire::DecryptRequest = wire::parse(ctx.req.body).ok_or(INVALID_BODY)?;
        let plaintext = match wire::version(&req.version) {
            Err(()) => return Err(INVALID_BODY),
            Ok(Some(v)) => {
                let version = key.version(v).ok_or(NO_VERSION)?;
                version
                    .material
                    .key
                    .decrypt(&req.ciphertext, &req.context)
                    .map_err(|_| NOT_AUTHENTIC)?
            }
            Ok(None) => key
                .versions
                .iter()
                .rev()
                .take(MAX_DECRYPT_VERSIONS)
                .find_map(|v| v.material.key.decrypt(&req.ciphertext, &req.context).ok())
                .ok_or(NOT_AUTHENTIC)?,
        };
        let mut body = Vec::with_capacity(24 + 2 * plaintext.len());
        body.push(b'{');
        push_b64_field(&mut body, "plaintext", &plaintext);
        body.extend_from_slice(b"}\n");
        Ok(reply_json(resp, &body))
    }

    pub(super) fn hmac(
        &self,
        ctx: &Ctx<'_, '_>,
        resp: &mut ResponseWriter<'_>,
    ) -> Result<u16, Fail> {
        let key = key(ctx)?;
        let req: wire::HmacRequest = wire::parse(ctx.req.body).ok_or(INVALID_BODY)?;
        let version = pick(key, &req.version)?;
        let sum = version.material.hmac.sum(&req.message);
        let mut body = Vec::with_capacity(64);
        body.push(b'{');
        push_b64_field(&mut body, "hmac", &sum);
        body.extend_from_slice(b"}\n");
        Ok(reply_json(resp, &body))
    }
}
