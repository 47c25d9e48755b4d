//! The JSONPath subset of `additionalPrinterColumns`: `.a.b`, `.a[0]`, `.a[*]`, `['key']`
//! and filters `[?(@.type=="Ready")]`.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.path OP literal)]`; a bare `[?(@.path)]` keeps elements where the path exists.
    Filter(Vec<String>, Option<(bool, Value)>),
}

/// A compiled path.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let text = text.strip_prefix('$').unwrap_or(text);
        let mut steps = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let end =
                    closing_bracket(after).ok_or_else(|| format!("unclosed [ in {text:?}"))?;
                steps.push(parse_bracket(&after[..end])?);
                rest = &after[end + 1..];
            } else if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if !name.is_empty() {
                    steps.push(if name == "*" {
                        Step::All
                    } else {
                        Step::Field(name.to_string())
                    });
                }
                rest = &after[end..];
            } else {
                return Err(format!("unexpected {rest:?} in JSONPath {text:?}"));
            }
        }
        Ok(Self(steps))
    }

    /// Every value the path reaches, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.0 {
            let mut next = Vec::new();
            for value in current {
                match (step, value) {
                    (Step::Field(name), Value::Object(map)) => next.extend(map.get(name)),
                    (Step::Index(i), Value::Array(items)) => {
                        let index = if *i < 0 { items.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(index).ok().and_then(|i| items.get(i)));
                    }
                    (Step::All, Value::Array(items)) => next.extend(items),
                    (Step::All, Value::Object(map)) => next.extend(map.values()),
                    (Step::Filter(path, test), Value::Array(items)) => {
                        next.extend(items.iter().filter(|item| {
                            let found = lookup(item, path);
                            match (found, test) {
                                (Some(_), None) => true,
                                (Some(v), Some((equal, literal))) => (v == literal) == *equal,
                                (None, _) => false,
                            }
                        }));
                    }
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn closing_bracket(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(text: &str) -> Option<&str> {
    let text = text.trim();
    text.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| text.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
}

fn parse_bracket(inside: &str) -> Result<Step, String> {
    let inside = inside.trim();
    if inside == "*" {
        return Ok(Step::All);
    }
    if let Some(name) = unquote(inside) {
        return Ok(Step::Field(name.to_string()));
    }
    if let Ok(index) = inside.parse() {
        return Ok(Step::Index(index));
    }
    let filter = inside
        .strip_prefix("?(")
        .and_then(|f| f.strip_suffix(')'))
        .ok_or_else(|| format!("unsupported JSONPath subscript [{inside}]"))?;
    let (left, test) = if let Some((l, r)) = filter.split_once("==") {
        (l, Some((true, r)))
    } else if let Some((l, r)) = filter.split_once("!=") {
        (l, Some((false, r)))
    } else {
        (filter, None)
    };
    let path = left
        .trim()
        .strip_prefix("@.")
        .ok_or_else(|| format!("filter must start with @. in [{inside}]"))?;
    let path = path.split('.').map(String::from).collect();
    let test = match test {
        None => None,
        Some((equal, literal)) => {
            let literal = match unquote(literal) {
                Some(s) => Value::String(s.to_string()),
                None => serde_json::from_str(literal.trim())
                    .map_err(|_| format!("unsupported literal {literal:?} in filter"))?,
            };
            Some((equal, literal))
        }
    };
    Ok(Step::Filter(path, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, value: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .unwrap()
            .find(value)
            .first()
            .map(|v| (*v).clone())
    }

    #[test]
    fn fields_indexes_and_filters() {
        let obj = json!({
            "spec": {"guildId": "1", "labels": {"a.b/c": "x"}},
            "status": {"conditions": [
                {"type": "Deployed", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "Waiting"},
            ]},
        });
        assert_eq!(first(".spec.guildId", &obj), Some(json!("1")));
        assert_eq!(first("{.spec.guildId}", &obj), Some(json!("1")));
        assert_eq!(
            first(".status.conditions[0].type", &obj),
            Some(json!("Deployed"))
        );
        assert_eq!(
            first(".status.conditions[-1].type", &obj),
            Some(json!("Ready"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &obj),
            Some(json!("False"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type!='Ready')].type", &obj),
            Some(json!("Deployed"))
        );
        assert_eq!(first(".spec.labels['a.b/c']", &obj), Some(json!("x")));
        assert_eq!(first(".status.missing", &obj), None);
        let all = JsonPath::parse(".status.conditions[*].type").unwrap();
        assert_eq!(all.find(&obj).len(), 2);
        assert!(JsonPath::parse(".a[?(x)]").is_err());
    }
}
