//! Kaltura HTTP event notifications: signature check and payload parsing.
//!
//! Legacy senders post a form with `data=<payload>`, newer ones the payload as the raw body; the
//! payload is JSON or XML. The signature is `hex(hash(secret + raw body))` in `X-KALTURA-SIGNATURE`,
//! with SHA1 unless `X-KALTURA-HASH-ALGO` names another algorithm.

use md5::Md5;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use sha2::{Sha256, Sha384, Sha512};

use crate::secret::Secret;

pub const SIGNATURE_HEADER: &str = "x-kaltura-signature";
pub const HASH_ALGO_HEADER: &str = "x-kaltura-hash-algo";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no X-KALTURA-SIGNATURE header")]
    MissingSignature,
    #[error("unsupported hash algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error("signature does not match the body")]
    BadSignature,
    #[error("notification body is not a Kaltura notification: {0}")]
    BadBody(String),
}

/// The hash algorithms Kaltura offers for notification signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
}

impl HashAlgo {
    pub const ALL: [HashAlgo; 5] = [
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha384,
        HashAlgo::Sha512,
        HashAlgo::Md5,
    ];

    pub fn parse(name: &str) -> Result<HashAlgo, WebhookError> {
        match name.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(HashAlgo::Sha1),
            "sha256" => Ok(HashAlgo::Sha256),
            "sha384" => Ok(HashAlgo::Sha384),
            "sha512" => Ok(HashAlgo::Sha512),
            "md5" => Ok(HashAlgo::Md5),
            _ => Err(WebhookError::UnknownAlgorithm(name.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha1 => "SHA1",
            HashAlgo::Sha256 => "SHA256",
            HashAlgo::Sha384 => "SHA384",
            HashAlgo::Sha512 => "SHA512",
            HashAlgo::Md5 => "MD5",
        }
    }

    /// `hex(hash(secret + body))`.
    pub fn sign(self, secret: &Secret, body: &[u8]) -> String {
        fn run<D: Digest>(secret: &[u8], body: &[u8]) -> String {
            let mut hasher = D::new();
            hasher.update(secret);
            hasher.update(body);
            hex::encode(hasher.finalize())
        }
        let secret = secret.expose().as_bytes();
        match self {
            HashAlgo::Sha1 => run::<Sha1>(secret, body),
            HashAlgo::Sha256 => run::<Sha256>(secret, body),
            HashAlgo::Sha384 => run::<Sha384>(secret, body),
            HashAlgo::Sha512 => run::<Sha512>(secret, body),
            HashAlgo::Md5 => run::<Md5>(secret, body),
        }
    }
}

/// Check a notification's signature. `header` looks a header up by lower-case name.
pub fn verify<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    secret: &Secret,
) -> Result<HashAlgo, WebhookError> {
    let signature = header(SIGNATURE_HEADER).ok_or(WebhookError::MissingSignature)?;
    let algo = match header(HASH_ALGO_HEADER) {
        Some(name) => HashAlgo::parse(name)?,
        None => HashAlgo::Sha1,
    };
    let expected = algo.sign(secret, body);
    if constant_time_eq(
        expected.as_bytes(),
        signature.trim().to_ascii_lowercase().as_bytes(),
    ) {
        Ok(algo)
    } else {
        Err(WebhookError::BadSignature)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `KalturaHttpNotification`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// `KalturaEventNotificationEventType` as sent ("2" object added, "3" changed, ...).
    pub event_type: String,
    /// `KalturaEventNotificationEventObjectType` ("1" entry, ...).
    pub event_object_type: String,
    pub template_id: Option<i64>,
    pub template_name: Option<String>,
    pub template_system_name: Option<String>,
    pub job_id: Option<i64>,
    pub partner_id: Option<i64>,
    /// The object the event is about (e.g. a `KalturaMediaEntry`), as JSON.
    pub object: Value,
}

impl Notification {
    /// The `objectType` of [`Notification::object`].
    pub fn object_type(&self) -> Option<&str> {
        self.object.get("objectType").and_then(Value::as_str)
    }
}

/// Parse a notification body of either style (form `data=` or raw) and either payload format.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Notification, WebhookError> {
    let is_form = content_type.is_some_and(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let payload = if is_form {
        form_urlencoded::parse(body)
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned().into_bytes())
            .ok_or_else(|| WebhookError::BadBody("form without a data field".into()))?
    } else {
        body.to_vec()
    };
    let value = match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => xml_to_value(&payload)?,
        Some(b'{') => {
            serde_json::from_slice(&payload).map_err(|e| WebhookError::BadBody(e.to_string()))?
        }
        _ => return Err(WebhookError::BadBody("neither JSON nor XML".into())),
    };
    notification_from(value)
}

fn notification_from(value: Value) -> Result<Notification, WebhookError> {
    let text = |key: &str| -> Option<String> {
        match value.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let int = |key: &str| text(key).and_then(|s| s.parse().ok());
    let event_type =
        text("eventType").ok_or_else(|| WebhookError::BadBody("no eventType".into()))?;
    Ok(Notification {
        event_type,
        event_object_type: text("eventObjectType").unwrap_or_default(),
        template_id: int("templateId"),
        template_name: text("templateName"),
        template_system_name: text("templateSystemName"),
        job_id: int("eventNotificationJobId"),
        partner_id: int("partnerId"),
        object: value.get("object").cloned().unwrap_or(Value::Null),
    })
}

/// Kaltura's XML serialization to JSON: elements become fields, `<item>` lists become arrays,
/// and the document element (`<notification>`, `<xml>`, `<result>`) is unwrapped.
fn xml_to_value(xml: &[u8]) -> Result<Value, WebhookError> {
    let mut reader = Reader::from_reader(xml);
    // No trimming: text around entities arrives in pieces, and leaf values keep their spaces.
    let mut stack = vec![Element::default()];
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| WebhookError::BadBody(format!("XML: {e}")))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(empty) => {
                let name = String::from_utf8_lossy(empty.name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push((name, Value::String(String::new())));
                }
            }
            Event::Text(text) => {
                let decoded = text
                    .decode()
                    .map_err(|e| WebhookError::BadBody(format!("XML text: {e}")))?;
                let unescaped = quick_xml::escape::unescape(&decoded)
                    .map_err(|e| WebhookError::BadBody(format!("XML text: {e}")))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&unescaped);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::GeneralRef(reference) => {
                let name = String::from_utf8_lossy(&reference).into_owned();
                let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                    .map(str::to_string)
                    .or_else(|| {
                        let code = name.strip_prefix('#')?;
                        let n = match code.strip_prefix('x') {
                            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                            None => code.parse().ok()?,
                        };
                        char::from_u32(n).map(String::from)
                    })
                    .ok_or_else(|| WebhookError::BadBody(format!("XML entity &{name};")))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| WebhookError::BadBody("XML nesting".into()))?;
                let value = element_value(done.children, done.text);
                stack
                    .last_mut()
                    .ok_or_else(|| WebhookError::BadBody("XML nesting".into()))?
                    .children
                    .push((done.name, value));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut document = stack
        .pop()
        .ok_or_else(|| WebhookError::BadBody("empty XML".into()))?;
    let (_, mut root) = document
        .children
        .pop()
        .ok_or_else(|| WebhookError::BadBody("empty XML".into()))?;
    // `<xml><result>...</result></xml>` (API style) wraps once more.
    if let Some(inner) = root
        .get("result")
        .filter(|_| root.get("eventType").is_none())
    {
        root = inner.clone();
    }
    Ok(root)
}

/// An XML element being read.
#[derive(Default)]
struct Element {
    name: String,
    children: Vec<(String, Value)>,
    text: String,
}

fn element_value(children: Vec<(String, Value)>, text: String) -> Value {
    if children.is_empty() {
        return Value::String(text);
    }
    if children.iter().all(|(name, _)| name == "item") {
        return Value::Array(children.into_iter().map(|(_, v)| v).collect());
    }
    let mut map = Map::new();
    for (name, value) in children {
        map.insert(name, value);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JSON_BODY: &str = r#"{"eventType":"3","eventObjectType":"1","templateId":12,"templateName":"Entry Ready","templateSystemName":"HTTP_ENTRY_STATUS_CHANGED","eventNotificationJobId":991,"partnerId":"4321","object":{"objectType":"KalturaMediaEntry","id":"0_abc","name":"Lecture 1","status":"2"}}"#;

    fn xml_body() -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><notification><eventType>3</eventType>\
         <eventObjectType>1</eventObjectType><templateId>12</templateId>\
         <templateName>Entry Ready</templateName><eventNotificationJobId>991</eventNotificationJobId>\
         <object><objectType>KalturaMediaEntry</objectType><id>0_abc</id><name>Lecture &amp; 1</name>\
         <status>2</status><tags></tags></object></notification>"
            .to_string()
    }

    #[test]
    fn parses_raw_json() {
        let n = parse(Some("application/json"), JSON_BODY.as_bytes()).unwrap();
        assert_eq!(n.event_type, "3");
        assert_eq!(n.template_id, Some(12));
        assert_eq!(n.job_id, Some(991));
        assert_eq!(n.partner_id, Some(4321));
        assert_eq!(n.object_type(), Some("KalturaMediaEntry"));
        assert_eq!(n.object["id"], "0_abc");
    }

    #[test]
    fn parses_form_data_with_xml() {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("data", &xml_body())
            .finish();
        let n = parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap();
        assert_eq!(n.event_object_type, "1");
        assert_eq!(n.object["name"], "Lecture & 1");
        assert_eq!(n.object["tags"], "");
        assert_eq!(n.template_name.as_deref(), Some("Entry Ready"));
    }

    #[test]
    fn parses_form_data_with_json_and_rejects_junk() {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("data", JSON_BODY)
            .finish();
        let n = parse(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(n.object["status"], "2");
        assert!(parse(Some("application/x-www-form-urlencoded"), b"other=1").is_err());
        assert!(parse(None, b"hello").is_err());
        assert!(parse(None, b"{\"object\":{}}").is_err());
    }

    #[test]
    fn known_sha1_vector() {
        // sha1("secret" + "body"), computed independently with `printf secretbody | sha1sum`.
        let sig = HashAlgo::Sha1.sign(&Secret::new("secret"), b"body");
        assert_eq!(sig, "16d335e9e89439586140f1ab58ccd5d60b998b92");
    }

    #[test]
    fn unknown_algorithm_and_missing_header() {
        let secret = Secret::new("s");
        assert_eq!(
            verify(|_| None, b"x", &secret),
            Err(WebhookError::MissingSignature)
        );
        let headers = |name: &str| match name {
            SIGNATURE_HEADER => Some("00"),
            HASH_ALGO_HEADER => Some("crc32"),
            _ => None,
        };
        assert_eq!(
            verify(headers, b"x", &secret),
            Err(WebhookError::UnknownAlgorithm("crc32".into()))
        );
    }

    proptest! {
        #[test]
        fn signatures_verify_and_detect_changes(
            body in prop::collection::vec(any::<u8>(), 0..512),
            secret in "[a-zA-Z0-9]{1,40}",
            algo_index in 0usize..5,
            legacy in prop::bool::ANY,
            flip in any::<prop::sample::Index>(),
        ) {
            let secret = Secret::new(secret);
            let algo = if legacy { HashAlgo::Sha1 } else { HashAlgo::ALL[algo_index] };
            let signature = algo.sign(&secret, &body).to_uppercase();
            let headers = |name: &str| match name {
                SIGNATURE_HEADER => Some(signature.as_str()),
                HASH_ALGO_HEADER if !legacy => Some(algo.name()),
                _ => None,
            };
            prop_assert_eq!(verify(headers, &body, &secret), Ok(algo));
            let wrong = Secret::new(format!("{}x", secret.expose()));
            prop_assert_eq!(verify(headers, &body, &wrong), Err(WebhookError::BadSignature));
            if !body.is_empty() {
                let mut changed = body.clone();
                changed[flip.index(body.len())] ^= 0x01;
                prop_assert_eq!(verify(headers, &changed, &secret), Err(WebhookError::BadSignature));
            }
        }
    }
}
