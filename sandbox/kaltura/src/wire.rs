//! What api_v3 answers: `KalturaAPIException`s and the two response formats, JSON (format 1,
//! bare results) and XML (format 2, `<xml><result>..</result><executionTime/></xml>`).

use serde_json::{Map, Value, json};

/// An in-band API error, with Kaltura's code, message and named args.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiException {
    pub code: &'static str,
    pub message: String,
    pub args: Vec<(&'static str, String)>,
}

impl ApiException {
    /// Build from Kaltura's template (`@NAME@` placeholders filled from `args`).
    pub fn new(
        code: &'static str,
        template: &str,
        args: &[(&'static str, String)],
    ) -> ApiException {
        let mut message = template.to_string();
        for (name, value) in args {
            message = message.replace(&format!("@{name}@"), value);
        }
        ApiException {
            code,
            message,
            args: args.to_vec(),
        }
    }

    pub fn entry_not_found(id: &str) -> Self {
        Self::new(
            "ENTRY_ID_NOT_FOUND",
            "Entry id \"@ENTRY_ID@\" not found",
            &[("ENTRY_ID", id.into())],
        )
    }

    pub fn invalid_user_id() -> Self {
        Self::new("INVALID_USER_ID", "Invalid user id", &[])
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MISSING_MANDATORY_PARAMETER",
            "Missing parameter \"@PARAM_NAME@\"",
            &[("PARAM_NAME", name.into())],
        )
    }

    pub fn property_null(name: &str) -> Self {
        Self::new(
            "PROPERTY_VALIDATION_CANNOT_BE_NULL",
            "The property \"@PROP_NAME@\" cannot be null",
            &[("PROP_NAME", name.into())],
        )
    }

    pub fn invalid_object_id(id: &str) -> Self {
        Self::new(
            "INVALID_OBJECT_ID",
            "Invalid object id [@OBJ_ID@]",
            &[("OBJ_ID", id.into())],
        )
    }

    pub fn service_forbidden(service: &str) -> Self {
        Self::new(
            "SERVICE_FORBIDDEN",
            "The access to service [@SERVICE@] is forbidden",
            &[("SERVICE", service.into())],
        )
    }

    /// A refused session, with Kaltura's reason (`-5`, `EXPIRED`); the KS is echoed as Kaltura does.
    pub fn invalid_ks(ks: &str, code: &str, reason: &str) -> Self {
        Self::new(
            "INVALID_KS",
            "Invalid KS \"@KS@\" Error \"@ERR_CODE@,@ERR_DESC@\"",
            &[
                ("KS", ks.into()),
                ("ERR_CODE", code.into()),
                ("ERR_DESC", reason.into()),
            ],
        )
    }

    pub fn to_json(&self) -> Value {
        let args: Map<String, Value> = self
            .args
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        json!({"code": self.code, "message": self.message, "objectType": "KalturaAPIException", "args": args})
    }

    fn to_xml(&self, out: &mut String) {
        out.push_str("<error><objectType>KalturaAPIException</objectType><code>");
        escape_into(self.code, out);
        out.push_str("</code><message>");
        escape_into(&self.message, out);
        out.push_str("</message><args>");
        for (name, value) in &self.args {
            out.push_str("<item><objectType>KalturaApiExceptionArg</objectType><name>");
            escape_into(name, out);
            out.push_str("</name><value>");
            escape_into(value, out);
            out.push_str("</value></item>");
        }
        out.push_str("</args></error>");
    }
}

pub type CallResult = Result<Value, ApiException>;

/// Response format requested by `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// One call's answer as a whole body.
pub fn render_single(format: Format, result: &CallResult, seconds: f64) -> String {
    match format {
        Format::Json => match result {
            Ok(value) => value.to_string(),
            Err(err) => err.to_json().to_string(),
        },
        Format::Xml => {
            let mut body = xml_open();
            match result {
                Ok(value) => value_to_xml(value, &mut body),
                Err(err) => err.to_xml(&mut body),
            }
            xml_close(body, seconds)
        }
    }
}

/// A multirequest's answers: a JSON array, or `<item>`s inside `<result>`.
pub fn render_multi(format: Format, results: &[CallResult], seconds: f64) -> String {
    match format {
        Format::Json => {
            let items: Vec<Value> = results
                .iter()
                .map(|r| match r {
                    Ok(v) => v.clone(),
                    Err(e) => e.to_json(),
                })
                .collect();
            Value::Array(items).to_string()
        }
        Format::Xml => {
            let mut body = xml_open();
            for result in results {
                body.push_str("<item>");
                match result {
                    Ok(value) => value_to_xml(value, &mut body),
                    Err(err) => err.to_xml(&mut body),
                }
                body.push_str("</item>");
            }
            xml_close(body, seconds)
        }
    }
}

fn xml_open() -> String {
    String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><xml><result>")
}

fn xml_close(mut body: String, seconds: f64) -> String {
    body.push_str(&format!(
        "</result><executionTime>{seconds:.6}</executionTime></xml>"
    ));
    body
}

/// Kaltura's XML serializer: object fields become elements, array members `<item>`s, booleans
/// `1`/`0`; null fields are left out.
pub fn value_to_xml(value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "1" } else { "0" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escape_into(s, out),
        Value::Array(items) => {
            for item in items {
                out.push_str("<item>");
                value_to_xml(item, out);
                out.push_str("</item>");
            }
        }
        Value::Object(map) => {
            for (key, field) in map {
                if field.is_null() {
                    continue;
                }
                out.push('<');
                out.push_str(key);
                out.push('>');
                value_to_xml(field, out);
                out.push_str("</");
                out.push_str(key);
                out.push('>');
            }
        }
    }
}

pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_shapes() {
        let v = json!({"objectType":"KalturaMediaListResponse","objects":[{"id":"0_a","name":"a<b"}],"totalCount":1,"x":null,"ok":true});
        let xml = render_single(Format::Xml, &Ok(v), 0.0);
        assert!(xml.contains("<result><objectType>KalturaMediaListResponse</objectType><objects><item><id>0_a</id><name>a&lt;b</name></item></objects><ok>1</ok><totalCount>1</totalCount></result>"), "{xml}");
        let err = ApiException::entry_not_found("0_zz");
        let xml = render_multi(Format::Xml, &[Err(err.clone())], 0.0);
        assert!(xml.contains("<item><error><objectType>KalturaAPIException</objectType><code>ENTRY_ID_NOT_FOUND</code><message>Entry id &quot;0_zz&quot; not found</message>"), "{xml}");
        assert_eq!(err.to_json()["args"]["ENTRY_ID"], "0_zz");
    }
}
