//! The KRL byte format (see the parent module for the facts).

use super::{Krl, KrlError, RevokedCerts, KRL_FORMAT_VERSION, KRL_MAGIC};
use crate::error::SshError;
use crate::key::{self, ParsedKey};
use crate::wire::{self, Reader, Truncated};

const SECTION_CERTIFICATES: u8 = 1;
const SECTION_EXPLICIT_KEY: u8 = 2;
const SECTION_FINGERPRINT_SHA1: u8 = 3;
const SECTION_SIGNATURE: u8 = 4;
const SECTION_FINGERPRINT_SHA256: u8 = 5;
const SECTION_EXTENSION: u8 = 255;

const CERT_SERIAL_LIST: u8 = 0x20;
const CERT_SERIAL_RANGE: u8 = 0x21;
const CERT_SERIAL_BITMAP: u8 = 0x22;
const CERT_KEY_ID: u8 = 0x23;
const CERT_EXTENSION: u8 = 0x39;

/// Longest bitmap mpint (`SSHBUF_MAX_BIGNUM` + 1 bytes, the extra one a leading zero).
const MAX_BITMAP_BYTES: usize = 16384 / 8 + 1;
/// Most serials all range subsections of a KRL may expand to (ranges are stored as sets
/// here; a list or bitmap costs input bytes per serial, a range does not).
pub const MAX_RANGE_SERIALS: u64 = 1 << 16;
/// Smallest RSA CA key OpenSSH loads (`SSH_RSA_MINIMUM_MODULUS_SIZE`).
const MIN_CA_RSA_BITS: usize = 1024;

impl From<Truncated> for KrlError {
    fn from(_: Truncated) -> Self {
        KrlError::Truncated
    }
}

pub(super) fn encode(krl: &Krl) -> Result<Vec<u8>, KrlError> {
    let mut out = Vec::with_capacity(64 + 36 * krl.revoked_sha256.len());
    out.extend_from_slice(&KRL_MAGIC);
    wire::put_u32(&mut out, KRL_FORMAT_VERSION);
    wire::put_u64(&mut out, krl.version);
    wire::put_u64(&mut out, krl.generated_at);
    wire::put_u64(&mut out, 0); // flags
    put_string(&mut out, b"")?; // reserved
    put_cstring(&mut out, &krl.comment)?;

    for (ca, rc) in &krl.certs {
        if !ca.is_empty() {
            check_ca_blob(ca)?;
        }
        let mut sect = Vec::new();
        put_string(&mut sect, ca)?;
        put_string(&mut sect, b"")?; // reserved
        if !rc.serials.is_empty() {
            if rc.serials.contains(&0) {
                return Err(KrlError::ZeroSerial);
            }
            let mut list = Vec::with_capacity(8 * rc.serials.len());
            for s in &rc.serials {
                wire::put_u64(&mut list, *s);
            }
            wire::put_u8(&mut sect, CERT_SERIAL_LIST);
            put_string(&mut sect, &list)?;
        }
        if !rc.key_ids.is_empty() {
            let mut ids = Vec::new();
            for id in &rc.key_ids {
                put_cstring(&mut ids, id)?;
            }
            wire::put_u8(&mut sect, CERT_KEY_ID);
            put_string(&mut sect, &ids)?;
        }
        wire::put_u8(&mut out, SECTION_CERTIFICATES);
        put_string(&mut out, &sect)?;
    }

    if !krl.revoked_sha256.is_empty() {
        let mut sect = Vec::with_capacity(36 * krl.revoked_sha256.len());
        for h in &krl.revoked_sha256 {
            put_string(&mut sect, h)?;
        }
        wire::put_u8(&mut out, SECTION_FINGERPRINT_SHA256);
        put_string(&mut out, &sect)?;
    }
    Ok(out)
}

fn put_string(out: &mut Vec<u8>, v: &[u8]) -> Result<(), KrlError> {
    if u32::try_from(v.len()).is_err() {
        return Err(KrlError::TooLarge);
    }
    wire::put_string(out, v);
    Ok(())
}

fn put_cstring(out: &mut Vec<u8>, s: &str) -> Result<(), KrlError> {
    if s.contains('\0') {
        return Err(KrlError::BadString);
    }
    put_string(out, s.as_bytes())
}

pub(super) fn decode(data: &[u8]) -> Result<Krl, KrlError> {
    if data.len() < KRL_MAGIC.len() || data[..KRL_MAGIC.len()] != KRL_MAGIC {
        return Err(KrlError::BadMagic);
    }
    let mut r = Reader::new(&data[KRL_MAGIC.len()..]);
    let format = r.u32()?;
    if format != KRL_FORMAT_VERSION {
        return Err(KrlError::FormatVersion(format));
    }
    let mut krl = Krl {
        version: r.u64()?,
        generated_at: r.u64()?,
        ..Krl::default()
    };
    let _flags = r.u64()?;
    let _reserved = r.string()?;
    krl.comment = cstring(r.string()?)?;

    let mut range_budget = MAX_RANGE_SERIALS;
    while !r.is_empty() {
        let ty = r.u8()?;
        let mut sect = Reader::new(r.string()?);
        match ty {
            SECTION_CERTIFICATES => certificates(&mut sect, &mut krl, &mut range_budget)?,
            SECTION_EXPLICIT_KEY => {
                while !sect.is_empty() {
                    krl.revoked_sha256.insert(key::sha256(sect.string()?));
                }
            }
            SECTION_FINGERPRINT_SHA256 => {
                while !sect.is_empty() {
                    let h = sect.string()?;
                    let h: [u8; 32] = h.try_into().map_err(|_| KrlError::HashLength(h.len()))?;
                    krl.revoked_sha256.insert(h);
                }
            }
            SECTION_EXTENSION => extension(&mut sect)?,
            SECTION_FINGERPRINT_SHA1 => return Err(KrlError::Sha1Section),
            SECTION_SIGNATURE => return Err(KrlError::SignatureSection),
            other => return Err(KrlError::UnknownSection(other)),
        }
        if !sect.is_empty() {
            return Err(KrlError::TrailingData);
        }
    }
    Ok(krl)
}

/// A certificates section: CA key, reserved, subsections.
fn certificates(
    sect: &mut Reader<'_>,
    krl: &mut Krl,
    range_budget: &mut u64,
) -> Result<(), KrlError> {
    let ca = sect.string()?;
    let _reserved = sect.string()?;
    if !ca.is_empty() {
        check_ca_blob(ca)?;
    }
    let rc: &mut RevokedCerts = krl.certs.entry(ca.to_vec()).or_default();
    while !sect.is_empty() {
        let ty = sect.u8()?;
        let mut sub = Reader::new(sect.string()?);
        match ty {
            CERT_SERIAL_LIST => {
                while !sub.is_empty() {
                    let s = sub.u64()?;
                    if s == 0 {
                        return Err(KrlError::ZeroSerial);
                    }
                    rc.serials.insert(s);
                }
            }
            CERT_SERIAL_RANGE => {
                let (lo, hi) = (sub.u64()?, sub.u64()?);
                if lo == 0 || lo > hi {
                    return Err(KrlError::BadRange { lo, hi });
                }
                let count = (hi - lo).saturating_add(1);
                if count > *range_budget {
                    return Err(KrlError::TooManySerials);
                }
                *range_budget -= count;
                rc.serials.extend(lo..=hi);
            }
            CERT_SERIAL_BITMAP => {
                let offset = sub.u64()?;
                bitmap(offset, sub.string()?, &mut rc.serials)?;
            }
            CERT_KEY_ID => {
                while !sub.is_empty() {
                    rc.key_ids.insert(cstring(sub.string()?)?);
                }
            }
            CERT_EXTENSION => extension(&mut sub)?,
            other => return Err(KrlError::UnknownCertSection(other)),
        }
        if !sub.is_empty() {
            return Err(KrlError::TrailingData);
        }
    }
    Ok(())
}

/// `mpint` bitmap: bit N (from the least significant bit of the last byte) revokes
/// `offset + N`; as `sshbuf_get_bignum2_bytes_direct` and the loop in `parse_revoked_certs`
/// check: not negative, at most 2048 bytes after a leading zero, not wrapping past 2^64−1, and
/// no serial 0.
fn bitmap(
    offset: u64,
    mpint: &[u8],
    serials: &mut std::collections::BTreeSet<u64>,
) -> Result<(), KrlError> {
    if mpint.first().is_some_and(|b| b & 0x80 != 0)
        || mpint.len() > MAX_BITMAP_BYTES
        || (mpint.len() == MAX_BITMAP_BYTES && mpint[0] != 0)
    {
        return Err(KrlError::BadBitmap);
    }
    let bytes = &mpint[mpint.iter().take_while(|&&b| b == 0).count()..];
    let Some(&top) = bytes.first() else {
        return Ok(());
    };
    let nbits = (bytes.len() * 8 - top.leading_zeros() as usize) as u64;
    if offset.checked_add(nbits - 1).is_none() {
        return Err(KrlError::BadBitmap);
    }
    for (i, &byte) in bytes.iter().rev().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                let serial = offset + (i as u64) * 8 + bit;
                if serial == 0 {
                    return Err(KrlError::ZeroSerial);
                }
                serials.insert(serial);
            }
        }
    }
    Ok(())
}

/// `string name, bool critical, string contents`: critical ones fail, others are ignored.
fn extension(sect: &mut Reader<'_>) -> Result<(), KrlError> {
    let name = cstring(sect.string()?).unwrap_or_default();
    let critical = sect.u8()?;
    let _contents = sect.string()?;
    if !sect.is_empty() {
        return Err(KrlError::TrailingData);
    }
    if critical != 0 {
        return Err(KrlError::CriticalExtension(name));
    }
    Ok(())
}

/// A `string` read as C string (`sshbuf_get_cstring`: a NUL only as the last byte, dropped),
/// then as UTF-8.
fn cstring(b: &[u8]) -> Result<String, KrlError> {
    let b = match b.iter().position(|&c| c == 0) {
        None => b,
        Some(i) if i == b.len() - 1 => &b[..i],
        Some(_) => return Err(KrlError::BadString),
    };
    String::from_utf8(b.to_vec()).map_err(|_| KrlError::BadString)
}

/// A CA key OpenSSH's `sshkey_from_blob` loads and Sigil can match: a plain key, canonical,
/// RSA from 1024 bits.
fn check_ca_blob(blob: &[u8]) -> Result<(), KrlError> {
    match ParsedKey::from_blob(blob) {
        Ok(_) => Ok(()),
        Err(SshError::RsaSize { bits, max, .. }) if (MIN_CA_RSA_BITS..=max).contains(&bits) => {
            Ok(())
        }
        Err(e) => Err(KrlError::BadCaKey(e.to_string())),
    }
}
