//! Kaltura Session (KS) strings, version 1 and 2: generate and parse.
//!
//! v2: `base64url("v2|{partnerId}|" + AES-128-CBC(sha1(rand16 + fields) + rand16 + fields))`, key =
//! first 16 bytes of SHA1(secret), zero IV, zero padding. v1: `base64(hex(sha1(secret + info)) + "|" + info)`
//! with `info = partnerId;partnerId;expiry;type;rand;userId;privileges`.

use crate::secret::{Ks, Secret};
use aes::Aes128;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest, Sha1};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const RANDOM_SIZE: usize = 16;
const SHA1_SIZE: usize = 20;
const BLOCK: usize = 16;
const FIELD_EXPIRY: &str = "_e";
const FIELD_TYPE: &str = "_t";
const FIELD_USER: &str = "_u";

/// Real clients differ on `=` padding (Python keeps it, others strip it); accept both.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);

/// KS format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsVersion {
    V1,
    V2,
}

/// `KalturaSessionType`: 0 user, 2 admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionType {
    User,
    Admin,
}

impl SessionType {
    pub fn code(self) -> u8 {
        match self {
            SessionType::User => 0,
            SessionType::Admin => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<SessionType> {
        match code {
            0 => Some(SessionType::User),
            2 => Some(SessionType::Admin),
            _ => None,
        }
    }
}

/// Ordered KS privileges, as in `"sview:0_abc,setrole:12,enableentitlement"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges(Vec<(String, String)>);

impl Privileges {
    /// Parse Kaltura's `name:value,name2` notation; `*` means `all:*`.
    pub fn parse(text: &str) -> Privileges {
        let pairs = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| if p == "*" { "all:*" } else { p })
            .map(|p| match p.split_once(':') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect();
        Privileges(pairs)
    }

    pub fn with(mut self, name: &str, value: &str) -> Privileges {
        self.0.push((name.to_string(), value.to_string()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Privileges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if value.is_empty() {
                f.write_str(name)?;
            } else {
                write!(f, "{name}:{value}")?;
            }
        }
        Ok(())
    }
}

/// What a KS says. `expiry` is a Unix time in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KsFields {
    pub version: KsVersion,
    pub partner_id: i64,
    pub user_id: String,
    pub session_type: SessionType,
    pub expiry: i64,
    pub privileges: Privileges,
}

impl KsFields {
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expiry <= now
    }

    pub fn is_expired(&self) -> bool {
        self.is_expired_at(unix_now())
    }
}

/// Why a KS string was refused. The `code`/`name` pair is Kaltura's own (`ks::INVALID_STR` etc.).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KsError {
    #[error("KS is not a valid KS string: {0}")]
    Malformed(&'static str),
    #[error("KS signature does not match the secret (tampered or signed with another secret)")]
    BadSignature,
    #[error("KS was issued for partner {found}, expected {expected}")]
    WrongPartner { expected: i64, found: i64 },
    #[error("KS expired at {expiry} (now {now})")]
    Expired { expiry: i64, now: i64 },
}

impl KsError {
    /// Kaltura's numeric reason and name, as in `Error "-5,EXPIRED"`.
    pub fn kaltura_reason(&self) -> (i32, &'static str) {
        match self {
            KsError::Malformed(_) | KsError::BadSignature => (-1, "INVALID_STR"),
            KsError::WrongPartner { .. } => (-2, "INVALID_PARTNER"),
            KsError::Expired { .. } => (-5, "EXPIRED"),
        }
    }
}

/// Input for a new KS.
#[derive(Debug, Clone)]
pub struct KsRequest {
    pub partner_id: i64,
    pub user_id: String,
    pub session_type: SessionType,
    /// Lifetime in seconds from now.
    pub expiry_secs: i64,
    pub privileges: Privileges,
}

impl KsRequest {
    pub fn new(partner_id: i64, session_type: SessionType) -> KsRequest {
        KsRequest {
            partner_id,
            user_id: String::new(),
            session_type,
            expiry_secs: 86_400,
            privileges: Privileges::default(),
        }
    }

    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = user_id.into();
        self
    }

    pub fn expiry_secs(mut self, secs: i64) -> Self {
        self.expiry_secs = secs;
        self
    }

    pub fn privileges(mut self, privileges: Privileges) -> Self {
        self.privileges = privileges;
        self
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sha1(parts: &[&[u8]]) -> [u8; SHA1_SIZE] {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn aes_key(secret: &Secret) -> [u8; 16] {
    let digest = sha1(&[secret.expose().as_bytes()]);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn v2_fields_query(req: &KsRequest, expiry: i64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    // Later duplicates win on the server (PHP parse_str), as Python's dict does; keep the last one.
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (name, value) in req.privileges.iter() {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => seen.push((name, value)),
        }
    }
    for (name, value) in seen {
        query.append_pair(name, value);
    }
    query.append_pair(FIELD_EXPIRY, &expiry.to_string());
    query.append_pair(FIELD_TYPE, &req.session_type.code().to_string());
    query.append_pair(FIELD_USER, &req.user_id);
    query.finish()
}

/// Generate a v2 KS signed (encrypted) with `secret`.
pub fn generate_v2(secret: &Secret, req: &KsRequest) -> Ks {
    generate_v2_at(secret, req, unix_now(), rand::random())
}

fn generate_v2_at(secret: &Secret, req: &KsRequest, now: i64, random: [u8; RANDOM_SIZE]) -> Ks {
    let fields = v2_fields_query(req, now + req.expiry_secs);
    let hash = sha1(&[&random, fields.as_bytes()]);
    let mut plain = Vec::with_capacity(SHA1_SIZE + RANDOM_SIZE + fields.len() + BLOCK);
    plain.extend_from_slice(&hash);
    plain.extend_from_slice(&random);
    plain.extend_from_slice(fields.as_bytes());
    let padded_len = plain.len().div_ceil(BLOCK) * BLOCK;
    plain.resize(padded_len, 0);
    let encryptor = cbc::Encryptor::<Aes128>::new(&aes_key(secret).into(), &[0u8; BLOCK].into());
    let cipher = encryptor
        .encrypt_padded::<NoPadding>(&mut plain, padded_len)
        .expect("buffer is a whole number of blocks");
    let mut decoded = format!("v2|{}|", req.partner_id).into_bytes();
    decoded.extend_from_slice(cipher);
    Ks::new(URL_SAFE.encode(decoded))
}

/// Generate a v1 KS signed with `secret`.
pub fn generate_v1(secret: &Secret, req: &KsRequest) -> Ks {
    let rand: u32 = rand::random::<u32>() % 0x10000;
    let info = format!(
        "{pid};{pid};{exp};{typ};{rand};{user};{privs}",
        pid = req.partner_id,
        exp = unix_now() + req.expiry_secs,
        typ = req.session_type.code(),
        user = req.user_id,
        privs = req.privileges,
    );
    let signature = hex::encode(sha1(&[secret.expose().as_bytes(), info.as_bytes()]));
    Ks::new(STANDARD.encode(format!("{signature}|{info}")))
}

fn base64_decode(ks: &str) -> Result<Vec<u8>, KsError> {
    let ks = ks.trim();
    URL_SAFE_LENIENT
        .decode(ks)
        .or_else(|_| STANDARD_LENIENT.decode(ks))
        .map_err(|_| KsError::Malformed("not base64"))
}

/// Version and partner id, readable without any secret.
pub fn peek(ks: &str) -> Result<(KsVersion, i64), KsError> {
    let raw = base64_decode(ks)?;
    if let Some(rest) = raw.strip_prefix(b"v2|") {
        let end = rest
            .iter()
            .position(|b| *b == b'|')
            .ok_or(KsError::Malformed("no partner id"))?;
        let partner = parse_int(&rest[..end])?;
        Ok((KsVersion::V2, partner))
    } else {
        let info = v1_parts(&raw)?.1;
        let partner = info.split(';').next().unwrap_or_default();
        Ok((KsVersion::V1, parse_int(partner.as_bytes())?))
    }
}

fn parse_int(bytes: &[u8]) -> Result<i64, KsError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(KsError::Malformed("partner id is not a number"))
}

fn v1_parts(raw: &[u8]) -> Result<(&str, &str), KsError> {
    let text = std::str::from_utf8(raw).map_err(|_| KsError::Malformed("v1 KS is not text"))?;
    text.split_once('|')
        .ok_or(KsError::Malformed("v1 KS has no signature separator"))
}

/// Decode and check the signature with any of `secrets`; does NOT check expiry (see [`verify`]).
pub fn decode(ks: &str, secrets: &[Secret]) -> Result<KsFields, KsError> {
    let raw = base64_decode(ks)?;
    if let Some(rest) = raw.strip_prefix(b"v2|") {
        decode_v2(rest, secrets)
    } else {
        decode_v1(&raw, secrets)
    }
}

/// Decode, check the signature, the partner and the expiry: what a server does.
pub fn verify(ks: &str, partner_id: i64, secrets: &[Secret]) -> Result<KsFields, KsError> {
    let (_, found) = peek(ks)?;
    if found != partner_id {
        return Err(KsError::WrongPartner {
            expected: partner_id,
            found,
        });
    }
    let fields = decode(ks, secrets)?;
    let now = unix_now();
    if fields.is_expired_at(now) {
        return Err(KsError::Expired {
            expiry: fields.expiry,
            now,
        });
    }
    Ok(fields)
}

fn decode_v2(rest: &[u8], secrets: &[Secret]) -> Result<KsFields, KsError> {
    let sep = rest
        .iter()
        .position(|b| *b == b'|')
        .ok_or(KsError::Malformed("no partner id"))?;
    let partner_id = parse_int(&rest[..sep])?;
    let cipher = &rest[sep + 1..];
    if cipher.is_empty() || !cipher.len().is_multiple_of(BLOCK) {
        return Err(KsError::Malformed("ciphertext is not whole AES blocks"));
    }
    for secret in secrets {
        let mut buf = cipher.to_vec();
        let decryptor =
            cbc::Decryptor::<Aes128>::new(&aes_key(secret).into(), &[0u8; BLOCK].into());
        let Ok(plain) = decryptor.decrypt_padded::<NoPadding>(&mut buf) else {
            continue;
        };
        let end = plain.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let plain = &plain[..end];
        if plain.len() < SHA1_SIZE + RANDOM_SIZE {
            continue;
        }
        let (hash, signed) = plain.split_at(SHA1_SIZE);
        if sha1(&[signed]) != hash {
            continue;
        }
        return v2_fields(partner_id, &signed[RANDOM_SIZE..]);
    }
    Err(KsError::BadSignature)
}

fn v2_fields(partner_id: i64, query: &[u8]) -> Result<KsFields, KsError> {
    let mut fields = KsFields {
        version: KsVersion::V2,
        partner_id,
        user_id: String::new(),
        session_type: SessionType::User,
        expiry: 0,
        privileges: Privileges::default(),
    };
    let mut saw_expiry = false;
    for (name, value) in form_urlencoded::parse(query) {
        match name.as_ref() {
            FIELD_EXPIRY => {
                fields.expiry = value.parse().map_err(|_| KsError::Malformed("bad _e"))?;
                saw_expiry = true;
            }
            FIELD_TYPE => {
                fields.session_type = value
                    .parse()
                    .ok()
                    .and_then(SessionType::from_code)
                    .ok_or(KsError::Malformed("bad _t"))?;
            }
            FIELD_USER => fields.user_id = value.into_owned(),
            _ => fields
                .privileges
                .0
                .push((name.into_owned(), value.into_owned())),
        }
    }
    if !saw_expiry {
        return Err(KsError::Malformed("no _e field"));
    }
    Ok(fields)
}

fn decode_v1(raw: &[u8], secrets: &[Secret]) -> Result<KsFields, KsError> {
    let (signature, info) = v1_parts(raw)?;
    let signed = secrets.iter().any(|secret| {
        hex::encode(sha1(&[secret.expose().as_bytes(), info.as_bytes()])) == signature
    });
    if !signed {
        return Err(KsError::BadSignature);
    }
    // partnerId;partnerId;expiry;type;rand;userId;privileges (privileges may contain ';' — keep the rest)
    let parts: Vec<&str> = info.splitn(7, ';').collect();
    if parts.len() < 6 {
        return Err(KsError::Malformed("v1 KS has too few fields"));
    }
    let num = |s: &str, what| s.parse::<i64>().map_err(|_| KsError::Malformed(what));
    Ok(KsFields {
        version: KsVersion::V1,
        partner_id: num(parts[0], "bad partner id")?,
        expiry: num(parts[2], "bad expiry")?,
        session_type: SessionType::from_code(num(parts[3], "bad type")?)
            .ok_or(KsError::Malformed("bad type"))?,
        user_id: parts[5].to_string(),
        privileges: Privileges::parse(parts.get(6).copied().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> Secret {
        Secret::new("0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn v2_is_deterministic_for_fixed_random_and_time() {
        let req = KsRequest::new(1234, SessionType::Admin)
            .user("alice")
            .privileges(Privileges::parse("sview:*,disableentitlement"));
        let a = generate_v2_at(&secret(), &req, 1_700_000_000, [7; 16]);
        let b = generate_v2_at(&secret(), &req, 1_700_000_000, [7; 16]);
        assert_eq!(a, b);
        let fields = decode(a.expose(), &[secret()]).unwrap();
        assert_eq!(fields.expiry, 1_700_086_400);
        assert_eq!(fields.privileges.to_string(), "sview:*,disableentitlement");
    }

    #[test]
    fn star_privilege_becomes_all() {
        assert_eq!(Privileges::parse(" * , a:b ").to_string(), "all:*,a:b");
    }

    #[test]
    fn expired_and_wrong_partner_are_refused() {
        let req = KsRequest::new(99, SessionType::User).expiry_secs(-10);
        let ks = generate_v2(&secret(), &req);
        assert!(matches!(
            verify(ks.expose(), 99, &[secret()]),
            Err(KsError::Expired { .. })
        ));
        let fresh = generate_v2(&secret(), &KsRequest::new(99, SessionType::User));
        assert_eq!(
            verify(fresh.expose(), 100, &[secret()]),
            Err(KsError::WrongPartner {
                expected: 100,
                found: 99
            })
        );
        assert_eq!(
            KsError::Expired { expiry: 0, now: 1 }.kaltura_reason(),
            (-5, "EXPIRED")
        );
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            decode("not a ks!", &[secret()]),
            Err(KsError::Malformed(_))
        ));
        let short = URL_SAFE.encode(b"v2|12|abc");
        assert!(matches!(
            decode(&short, &[secret()]),
            Err(KsError::Malformed(_))
        ));
    }

    fn arb_request() -> impl Strategy<Value = KsRequest> {
        let privilege = ("[a-z]{1,10}", "[a-zA-Z0-9_*=&% .-]{0,12}");
        (
            1i64..10_000_000,
            "[a-zA-Z0-9@._+ -]{0,24}",
            prop::bool::ANY,
            60i64..10_000_000,
            prop::collection::vec(privilege, 0..5),
        )
            .prop_map(|(pid, user, admin, expiry, privs)| {
                let mut privileges = Privileges::default();
                for (name, value) in privs {
                    // Names are unique in a real KS (a query string keeps the last one).
                    if privileges.get(&name).is_none() && !name.starts_with('_') {
                        privileges = privileges.with(&name, &value);
                    }
                }
                let kind = if admin {
                    SessionType::Admin
                } else {
                    SessionType::User
                };
                KsRequest::new(pid, kind)
                    .user(user)
                    .expiry_secs(expiry)
                    .privileges(privileges)
            })
    }

    proptest! {
        #[test]
        fn v2_round_trips(req in arb_request(), secret in "[a-f0-9]{32}") {
            let secret = Secret::new(secret);
            let ks = generate_v2(&secret, &req);
            let fields = verify(ks.expose(), req.partner_id, std::slice::from_ref(&secret)).unwrap();
            prop_assert_eq!(fields.version, KsVersion::V2);
            prop_assert_eq!(&fields.user_id, &req.user_id);
            prop_assert_eq!(fields.session_type, req.session_type);
            prop_assert_eq!(&fields.privileges, &req.privileges);
            prop_assert!((fields.expiry - unix_now() - req.expiry_secs).abs() <= 2);
        }

        #[test]
        fn v1_round_trips(req in arb_request(), secret in "[a-f0-9]{32}") {
            // v1 joins fields with ';' and privileges with ',' (trimming spaces), so values avoid them.
            prop_assume!(!req.user_id.contains(';'));
            prop_assume!(req.privileges.iter().all(|(_, v)| !v.contains([',', ';', ':', ' '])));
            let secret = Secret::new(secret);
            let ks = generate_v1(&secret, &req);
            let fields = verify(ks.expose(), req.partner_id, std::slice::from_ref(&secret)).unwrap();
            prop_assert_eq!(fields.version, KsVersion::V1);
            prop_assert_eq!(&fields.user_id, &req.user_id);
            prop_assert_eq!(&fields.privileges, &req.privileges);
        }

        #[test]
        fn other_secret_or_flipped_byte_is_refused(
            req in arb_request(), index in 0usize..1000, bit in 0u8..8,
        ) {
            let ks = generate_v2(&secret(), &req);
            let other = Secret::new("ffffffffffffffffffffffffffffffff");
            prop_assert_eq!(decode(ks.expose(), &[other]), Err(KsError::BadSignature));
            let mut raw = URL_SAFE.decode(ks.expose()).unwrap();
            let header = format!("v2|{}|", req.partner_id).len();
            let at = header + index % (raw.len() - header);
            raw[at] ^= 1 << bit;
            let tampered = URL_SAFE.encode(raw);
            prop_assert!(decode(&tampered, &[secret()]).is_err());
        }
    }
}
