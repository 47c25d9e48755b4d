//! `kaltura-discord status`: the resources as `kubectl get <kinds> -A` prints them in a
//! cluster, one table per kind with the CRD's own printer columns (those of priority 0; kubectl
//! shows the others with `-o wide`) and names as `<plural>.<group>/<name>`, since several kinds
//! are listed.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// Every kind that has resources, as `kubectl get <kind> -A` prints it, tables apart by a
/// blank line.
pub fn tables(crds: &[CustomResourceDefinition], objects: &[Value], now: Timestamp) -> String {
    let mut out = Vec::new();
    for crd in crds {
        let kind = &crd.spec.names.kind;
        let mine: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == *kind.as_str())
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push(table(crd, &mine, now));
    }
    out.join("\n")
}

fn table(crd: &CustomResourceDefinition, objects: &[&Value], now: Timestamp) -> String {
    let columns: Vec<_> = crd
        .spec
        .versions
        .iter()
        .find(|v| v.served)
        .and_then(|v| v.additional_printer_columns.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.priority.unwrap_or(0) == 0)
        .collect();
    let mut rows = vec![
        ["NAMESPACE", "NAME"]
            .into_iter()
            .map(String::from)
            .chain(columns.iter().map(|c| c.name.to_uppercase()))
            .collect::<Vec<_>>(),
    ];
    let prefix = format!("{}.{}", crd.spec.names.plural, crd.spec.group);
    for object in objects {
        let mut row = vec![
            text(&object["metadata"]["namespace"]),
            format!("{prefix}/{}", text(&object["metadata"]["name"])),
        ];
        for column in &columns {
            let value = select(object, &column.json_path);
            row.push(match (column.type_.as_str(), value) {
                ("date", Some(Value::String(at))) => age(at, now),
                (_, Some(value)) => text(value),
                (_, None) => "<none>".into(),
            });
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The subset of JSONPath printer columns use: `.a.b` fields and `[?(@.k=="v")]` filters on
/// lists (the first match, as kubectl shows one).
fn select<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = object;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(filter) = rest.strip_prefix("[?(@.") {
            let (condition, after) = filter.split_once(")]")?;
            let (field, wanted) = condition.split_once("==")?;
            let wanted = wanted.trim_matches('"');
            here = here.as_array()?.iter().find(|item| item[field] == wanted)?;
            rest = after;
        } else {
            let field = rest.strip_prefix('.')?;
            let end = field.find(['.', '[']).unwrap_or(field.len());
            here = here.get(&field[..end])?;
            rest = &field[end..];
        }
    }
    (!here.is_null()).then_some(here)
}

/// How long ago, as kubectl's AGE column says it (`45s`, `12m`, `5h`, `3d`).
fn age(at: &str, now: Timestamp) -> String {
    let Ok(then) = at.parse::<Timestamp>() else {
        return "<invalid>".into();
    };
    let seconds = now.as_second().saturating_sub(then.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guild(name: &str, ready: Option<(&str, &str)>) -> Value {
        let mut object = json!({
            "kind": "GuildConfig",
            "metadata": {"name": name, "namespace": "kaltura", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"guildId": "1283874310720716890", "applicationRef": {"name": "campus-bot"}},
            "status": {"configRevision": "abc", "conditions": []},
        });
        if let Some((status, reason)) = ready {
            object["status"]["conditions"] = json!([
                {"type": "CommandsRegistered", "status": "False", "reason": "Pending"},
                {"type": "Ready", "status": status, "reason": reason},
            ]);
        }
        object
    }

    #[test]
    fn a_table_has_the_printer_columns_and_kubectls_empty_cells() {
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let objects = [
            guild("physics-101", Some(("True", "Ready"))),
            guild("film-club", None),
        ];
        let out = tables(&kd_crds::crds(), &objects, now);
        let lines: Vec<&str> = out.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAMESPACE",
                "NAME",
                "GUILD",
                "APPLICATION",
                "REVISION",
                "COMMANDS",
                "READY",
                "REASON",
                "AGE"
            ]
        );
        let physics: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            physics,
            [
                "kaltura",
                "guildconfigs.kaltura-discord.io/physics-101",
                "1283874310720716890",
                "campus-bot",
                "abc",
                "<none>",
                "True",
                "Ready",
                "5m"
            ]
        );
        let film: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            film[4..],
            ["abc", "<none>", "<none>", "<none>", "5m"],
            "no conditions yet"
        );
        assert_eq!(lines.len(), 3, "only kinds with resources: {out}");
    }

    #[test]
    fn ages_read_as_kubectl_writes_them() {
        let now: Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        assert_eq!(age("2026-01-02T23:59:15Z", now), "45s");
        assert_eq!(age("2026-01-02T23:00:00Z", now), "60m");
        assert_eq!(age("2026-01-02T12:00:00Z", now), "12h");
        assert_eq!(age("2025-12-30T00:00:00Z", now), "4d");
        assert_eq!(age("yesterday", now), "<invalid>");
    }
}
