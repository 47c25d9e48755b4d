//! The server side of KS: issue v2 sessions and check v1/v2 ones the way Kaltura's `ks` class
//! does. Written independently of the product's client so a shared mistake cannot hide.

use aes::Aes128;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const B64URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
const B64STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);

/// Kaltura's reasons for refusing a KS (`ks::INVALID_STR` ...), as in `Error "-5,EXPIRED"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsReason {
    InvalidStr,
    InvalidPartner,
    Expired,
}

impl KsReason {
    pub fn code(self) -> &'static str {
        match self {
            KsReason::InvalidStr => "-1",
            KsReason::InvalidPartner => "-2",
            KsReason::Expired => "-5",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KsReason::InvalidStr => "INVALID_STR",
            KsReason::InvalidPartner => "INVALID_PARTNER",
            KsReason::Expired => "EXPIRED",
        }
    }
}

/// A checked session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub partner_id: i64,
    pub user_id: String,
    /// 0 user, 2 admin.
    pub session_type: i64,
    pub expiry: i64,
    pub privileges: BTreeMap<String, String>,
}

impl Session {
    pub fn is_admin(&self) -> bool {
        self.session_type == 2
    }
}

fn key_for(secret: &str) -> [u8; 16] {
    let digest = Sha1::digest(secret.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Issue a v2 KS like `session.start` does.
pub fn issue(
    secret: &str,
    partner_id: i64,
    user_id: &str,
    session_type: i64,
    expiry: i64,
    privileges: &str,
) -> String {
    let mut fields = form_urlencoded::Serializer::new(String::new());
    for privilege in privileges
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let privilege = if privilege == "*" { "all:*" } else { privilege };
        let (name, value) = privilege.split_once(':').unwrap_or((privilege, ""));
        fields.append_pair(name, value);
    }
    fields.append_pair("_e", &expiry.to_string());
    fields.append_pair("_t", &session_type.to_string());
    fields.append_pair("_u", user_id);
    let fields = fields.finish();
    let random: [u8; 16] = rand::random();
    let mut signed = random.to_vec();
    signed.extend_from_slice(fields.as_bytes());
    let mut plain = Sha1::digest(&signed).to_vec();
    plain.extend_from_slice(&signed);
    while plain.len() % 16 != 0 {
        plain.push(0);
    }
    let len = plain.len();
    let encrypted = cbc::Encryptor::<Aes128>::new(&key_for(secret).into(), &[0u8; 16].into())
        .encrypt_padded::<NoPadding>(&mut plain, len)
        .expect("whole blocks")
        .to_vec();
    let mut raw = format!("v2|{partner_id}|").into_bytes();
    raw.extend_from_slice(&encrypted);
    B64URL.encode(raw)
}

/// Check a KS against the secrets of the partner it names. `secrets_of` returns `None` for an
/// unknown partner.
pub fn check(
    ks: &str,
    now: i64,
    secrets_of: impl Fn(i64) -> Option<Vec<String>>,
) -> Result<Session, KsReason> {
    let raw = B64URL
        .decode(ks.trim())
        .or_else(|_| B64STD.decode(ks.trim()))
        .map_err(|_| KsReason::InvalidStr)?;
    let session = if raw.starts_with(b"v2|") {
        check_v2(&raw[3..], &secrets_of)?
    } else {
        check_v1(&raw, &secrets_of)?
    };
    if session.expiry <= now {
        return Err(KsReason::Expired);
    }
    Ok(session)
}

fn check_v2(
    rest: &[u8],
    secrets_of: &impl Fn(i64) -> Option<Vec<String>>,
) -> Result<Session, KsReason> {
    let bar = rest
        .iter()
        .position(|&b| b == b'|')
        .ok_or(KsReason::InvalidStr)?;
    let partner_id: i64 = std::str::from_utf8(&rest[..bar])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(KsReason::InvalidStr)?;
    let secrets = secrets_of(partner_id).ok_or(KsReason::InvalidPartner)?;
    let encrypted = &rest[bar + 1..];
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
        return Err(KsReason::InvalidStr);
    }
    for secret in secrets {
        let mut buf = encrypted.to_vec();
        let Ok(plain) = cbc::Decryptor::<Aes128>::new(&key_for(&secret).into(), &[0u8; 16].into())
            .decrypt_padded::<NoPadding>(&mut buf)
        else {
            continue;
        };
        let mut plain = plain.to_vec();
        while plain.last() == Some(&0) {
            plain.pop();
        }
        if plain.len() < 36 || Sha1::digest(&plain[20..]).as_slice() != &plain[..20] {
            continue;
        }
        let mut session = Session {
            partner_id,
            user_id: String::new(),
            session_type: 0,
            expiry: 0,
            privileges: BTreeMap::new(),
        };
        for (name, value) in form_urlencoded::parse(&plain[36..]) {
            match &*name {
                "_e" => session.expiry = value.parse().map_err(|_| KsReason::InvalidStr)?,
                "_t" => session.session_type = value.parse().map_err(|_| KsReason::InvalidStr)?,
                "_u" => session.user_id = value.into_owned(),
                _ => {
                    session
                        .privileges
                        .insert(name.into_owned(), value.into_owned());
                }
            }
        }
        return Ok(session);
    }
    Err(KsReason::InvalidStr)
}

fn check_v1(
    raw: &[u8],
    secrets_of: &impl Fn(i64) -> Option<Vec<String>>,
) -> Result<Session, KsReason> {
    let text = std::str::from_utf8(raw).map_err(|_| KsReason::InvalidStr)?;
    let (signature, info) = text.split_once('|').ok_or(KsReason::InvalidStr)?;
    let fields: Vec<&str> = info.splitn(7, ';').collect();
    if fields.len() < 6 {
        return Err(KsReason::InvalidStr);
    }
    let partner_id: i64 = fields[0].parse().map_err(|_| KsReason::InvalidStr)?;
    let secrets = secrets_of(partner_id).ok_or(KsReason::InvalidPartner)?;
    let valid = secrets.iter().any(|secret| {
        let mut hasher = Sha1::new();
        hasher.update(secret.as_bytes());
        hasher.update(info.as_bytes());
        hex::encode(hasher.finalize()) == signature
    });
    if !valid {
        return Err(KsReason::InvalidStr);
    }
    let privileges = fields
        .get(6)
        .map(|p| {
            p.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let (n, v) = s.split_once(':').unwrap_or((s, ""));
                    (n.to_string(), v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Session {
        partner_id,
        user_id: fields[5].to_string(),
        session_type: fields[3].parse().map_err(|_| KsReason::InvalidStr)?,
        expiry: fields[2].parse().map_err(|_| KsReason::InvalidStr)?,
        privileges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(pid: i64) -> Option<Vec<String>> {
        (pid == 7).then(|| vec!["abc".to_string()])
    }

    #[test]
    fn issued_ks_checks_out() {
        let ks = issue("abc", 7, "bob", 2, 2_000, "sview:*,setrole:3");
        let s = check(&ks, 1_000, secrets).unwrap();
        assert_eq!(
            (s.user_id.as_str(), s.session_type, s.expiry),
            ("bob", 2, 2_000)
        );
        assert_eq!(s.privileges["setrole"], "3");
        assert_eq!(check(&ks, 3_000, secrets), Err(KsReason::Expired));
        let other = issue("abc", 8, "bob", 2, 2_000, "");
        assert_eq!(check(&other, 1_000, secrets), Err(KsReason::InvalidPartner));
        let forged = issue("zzz", 7, "bob", 2, 2_000, "");
        assert_eq!(check(&forged, 1_000, secrets), Err(KsReason::InvalidStr));
    }

    #[test]
    fn v1_checks_signature() {
        let info = "7;7;5000;0;1234;carol;sview:*";
        let mut hasher = Sha1::new();
        hasher.update(b"abc");
        hasher.update(info.as_bytes());
        let ks = B64STD.encode(format!("{}|{info}", hex::encode(hasher.finalize())));
        let s = check(&ks, 100, secrets).unwrap();
        assert_eq!(s.user_id, "carol");
        assert_eq!(s.privileges["sview"], "*");
        let tampered = B64STD.encode(format!("{}|{}", hex::encode([0u8; 20]), info));
        assert_eq!(check(&tampered, 100, secrets), Err(KsReason::InvalidStr));
    }
}
