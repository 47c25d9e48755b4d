//! Snowflake ids, opaque tokens and Discord's timestamp format.

use rand::Rng;
use rand::distr::Alphanumeric;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds from the Unix epoch to the Discord epoch (2015-01-01).
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Generates snowflakes the way Discord lays them out: time since the Discord epoch in the top
/// 42 bits and an increment below, so ids sort by creation time as clients expect.
#[derive(Debug, Default)]
pub struct Snowflakes {
    last: u64,
}

impl Snowflakes {
    pub fn next(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let candidate = (now_ms.saturating_sub(DISCORD_EPOCH_MS)) << 22;
        self.last = candidate.max(self.last + 1);
        self.last
    }
}

/// A random URL-safe token of `len` characters.
pub fn token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Now in the form Discord sends: `2021-08-10T11:16:37.020000+00:00`.
pub fn timestamp_now() -> String {
    timestamp_in(std::time::Duration::ZERO)
}

/// A moment `from_now` ahead, in the same form (token expiries).
pub fn timestamp_in(from_now: std::time::Duration) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    (time::OffsetDateTime::now_utc() + from_now)
        .format(&format)
        .unwrap_or_default()
}

/// Parses a snowflake sent as a JSON string (Discord's form) or number.
pub fn parse_id(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_increase_and_carry_time() {
        let mut ids = Snowflakes::default();
        let a = ids.next();
        let b = ids.next();
        assert!(b > a);
        let created_ms = (a >> 22) + DISCORD_EPOCH_MS;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now_ms.abs_diff(created_ms) < 60_000);
    }

    #[test]
    fn timestamp_has_discord_shape() {
        let ts = timestamp_now();
        assert_eq!(ts.len(), "2021-08-10T11:16:37.020000+00:00".len(), "{ts}");
        assert!(ts.ends_with("+00:00"));
    }
}

/// Serde for snowflakes in the control API: written as strings like Discord does (JavaScript
/// numbers lose precision past 2^53), read from strings or numbers.
pub mod snowflake {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }

    impl Raw {
        fn id<E: Error>(self) -> Result<u64, E> {
            match self {
                Raw::Number(n) => Ok(n),
                Raw::Text(s) => s
                    .parse()
                    .map_err(|_| E::custom(format!("\"{s}\" is not a snowflake"))),
            }
        }
    }

    pub fn serialize<S: Serializer>(id: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        Raw::deserialize(deserializer)?.id()
    }

    pub mod option {
        use super::Raw;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            id: &Option<u64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match id {
                Some(id) => serializer.collect_str(id),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<u64>, D::Error> {
            Option::<Raw>::deserialize(deserializer)?
                .map(Raw::id)
                .transpose()
        }
    }

    pub mod vec {
        use super::Raw;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(ids: &[u64], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(ids.iter().map(u64::to_string))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<u64>, D::Error> {
            Vec::<Raw>::deserialize(deserializer)?
                .into_iter()
                .map(Raw::id)
                .collect()
        }
    }
}

#[cfg(test)]
mod snowflake_tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Ids {
        #[serde(with = "super::snowflake")]
        one: u64,
        #[serde(with = "super::snowflake::option", default)]
        maybe: Option<u64>,
        #[serde(with = "super::snowflake::vec")]
        many: Vec<u64>,
    }

    #[test]
    fn snowflakes_read_strings_or_numbers_and_write_strings() {
        let ids: Ids =
            serde_json::from_str(r#"{"one": "1576307206838550529", "many": [1, "2"]}"#).unwrap();
        assert_eq!(
            ids,
            Ids {
                one: 1_576_307_206_838_550_529,
                maybe: None,
                many: vec![1, 2]
            }
        );
        assert_eq!(
            serde_json::to_string(&ids).unwrap(),
            r#"{"one":"1576307206838550529","maybe":null,"many":["1","2"]}"#
        );
        assert!(serde_json::from_str::<Ids>(r#"{"one": "abc", "many": []}"#).is_err());
    }
}
