//! Short-lived signed join links: `/join/<token>` on the public URL. The token names the member,
//! the meeting and the role; the Kaltura session is minted only when the link is opened, so no
//! KS ever appears in Discord.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const AUDIENCE: &str = "kaltura-discord/join";
pub const ISSUER: &str = "kaltura-discord";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// Discord user id.
    pub sub: String,
    pub guild: String,
    /// Kaltura schedule event id of the meeting.
    pub meeting: String,
    /// KalturaPartner resource name the meeting belongs to.
    pub partner: String,
    /// Kaltura role the member joins with (`viewer`, `moderator`, `admin` or a role id).
    pub role: String,
    /// Shown in the meeting.
    pub name: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// An HS256 key for one kind of token, derived from the bot token and the token's purpose so no
/// extra secret must be managed and a token of one kind never verifies as another; rotating the
/// bot token invalidates outstanding tokens, which live minutes anyway.
pub struct TokenKey {
    secret: [u8; 32],
    audience: &'static str,
}

impl TokenKey {
    pub fn derive(bot_token: &str, purpose: &str, audience: &'static str) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bot_token.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        Self {
            secret: mac.finalize().into_bytes().into(),
            audience,
        }
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> String {
        let key = EncodingKey::from_secret(&self.secret).expect("a 32-byte HMAC key is valid");
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
            .expect("HS256 signing cannot fail")
    }

    /// Checks signature, expiry, audience and issuer.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<C, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[self.audience]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        let key = DecodingKey::from_secret(&self.secret)?;
        Ok(jsonwebtoken::decode::<C>(token, &key, &validation)?.claims)
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({}, redacted)", self.audience)
    }
}

/// The key of join tokens.
pub struct JoinKey(TokenKey);

impl JoinKey {
    pub fn derive(bot_token: &str) -> Self {
        Self(TokenKey::derive(
            bot_token,
            "kaltura-discord/join-link/v1",
            AUDIENCE,
        ))
    }

    pub fn sign(&self, claims: &JoinClaims) -> String {
        self.0.sign(claims)
    }

    /// Checks signature, expiry, audience and issuer.
    pub fn verify(&self, token: &str) -> Result<JoinClaims, jsonwebtoken::errors::Error> {
        self.0.verify(token)
    }
}

impl std::fmt::Debug for JoinKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinKey(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> JoinClaims {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        JoinClaims {
            sub: "111".into(),
            guild: "222".into(),
            meeting: "333".into(),
            partner: "campus".into(),
            role: "moderator".into(),
            name: "Ada".into(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + exp_in,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let key = JoinKey::derive("bot-token");
        let token = key.sign(&claims(600));
        assert_eq!(key.verify(&token).unwrap(), claims(600));
        assert!(
            JoinKey::derive("another-token").verify(&token).is_err(),
            "another key"
        );
        assert!(key.verify(&key.sign(&claims(-60))).is_err(), "expired");
        let mut wrong_aud = claims(600);
        wrong_aud.aud = "elsewhere".into();
        assert!(key.verify(&key.sign(&wrong_aud)).is_err(), "audience");
        let mut tampered = token.clone();
        tampered.replace_range(token.len() - 3.., "abc");
        assert!(key.verify(&tampered).is_err(), "tampered signature");
        assert!(!format!("{key:?}").contains("bot-token"));
    }
}
