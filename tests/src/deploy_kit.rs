//! The deploy kit (`deploy/`) as the tests read it: the PromQL of the Prometheus alert rules
//! and of the Grafana dashboard, the metric names those expressions select (PromQL read
//! simply: strings, label matchers, ranges, grouping clauses and function names removed), the
//! families a live `/metrics` exposes, and the Sigil configuration files inside the Kubernetes
//! ConfigMaps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository's root (the tests crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `deploy/`.
pub fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// The alert rules file.
pub fn alert_rules_file() -> PathBuf {
    deploy_dir().join("prometheus/sigil-alerts.yml")
}

/// The Grafana dashboard.
pub fn dashboard_file() -> PathBuf {
    deploy_dir().join("grafana/sigil-dashboard.json")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every rule of the alert rules file: (its `alert` or `record` name, its `expr`).
pub fn alert_exprs() -> Vec<(String, String)> {
    let path = alert_rules_file();
    let doc: serde_norway::Value =
        serde_norway::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().or(rule["record"].as_str());
            let expr = rule["expr"].as_str().expect("every rule has an expr");
            out.push((name.expect("alert or record").to_owned(), expr.to_owned()));
        }
    }
    out
}

/// The dashboard's JSON.
pub fn dashboard() -> Value {
    let path = dashboard_file();
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every query of the dashboard: (its panel's title, its `expr`), rows' nested panels included.
pub fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_owned()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A dashboard query as Prometheus itself would get it: Grafana's variables replaced
/// (`$__rate_interval` → `5m`, `$cp_job` → `sigil-cp`, `$dp_job` → `sigil-dp`).
pub fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$cp_job", "sigil-cp")
        .replace("$dp_job", "sigil-dp")
}

/// PromQL words that are not metric names.
const KEYWORDS: [&str; 12] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
];

/// PromQL's aggregation operators: `sum by (x) (…)` has no `(` right after the name.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names `expr` selects. Read simply: string literals, `{…}` label matchers and
/// `[…]` ranges are dropped, then every identifier is a metric name unless it is a keyword,
/// an aggregation operator, a function (followed by `(`) or inside a grouping clause
/// (`by (…)`, `on (…)`, …).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let stripped = strip_brackets(&strip_strings(expr));
    let chars: Vec<char> = stripped.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // A number or a duration (0.99, 1e3, 5m): skip it whole.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let call = chars.get(j) == Some(&'(');
        if KEYWORDS.contains(&word.as_str()) {
            if call && word != "atan2" {
                // A grouping clause: its label names are not metrics.
                while j < chars.len() && chars[j] != ')' {
                    j += 1;
                }
                i = j;
            }
            continue;
        }
        if !call && !AGGREGATIONS.contains(&word.as_str()) {
            names.insert(word);
        }
    }
    names
}

/// `expr` without its string literals ("…", '…', `…`).
fn strip_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(' ');
                }
            }
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// `expr` (strings already stripped) without `{…}` and `[…]`.
fn strip_brackets(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut depth = 0usize;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The families of a Prometheus text exposition: name → type (from the `# TYPE` lines).
pub fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// Whether `name` is one of `families`, or a histogram's or summary's `_bucket`, `_sum` or
/// `_count` series.
pub fn exposes(families: &BTreeMap<String, String>, name: &str) -> bool {
    if families.contains_key(name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix).is_some_and(|base| {
            matches!(
                families.get(base).map(String::as_str),
                Some("histogram") | Some("summary")
            ) && (*suffix != "_bucket" || families[base] == "histogram")
        })
    })
}

/// The value of `key` in the `data` of the ConfigMap named `name` in the multi-document YAML
/// file `path` (deploy/kubernetes/).
pub fn configmap_entry(path: &Path, name: &str, key: &str) -> String {
    use serde::Deserialize;
    let text = read(path);
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v = serde_norway::Value::deserialize(doc)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if v["kind"].as_str() == Some("ConfigMap") && v["metadata"]["name"].as_str() == Some(name) {
            return v["data"][key]
                .as_str()
                .unwrap_or_else(|| panic!("ConfigMap {name} has no data {key}"))
                .to_owned();
        }
    }
    panic!("no ConfigMap {name} in {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn metric_names_of_promql() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (ca, le) (rate(sigil_cp_ca_signing_duration_seconds_bucket{job=~"$cp_job"}[$__rate_interval])))"#
            ),
            ["sigil_cp_ca_signing_duration_seconds_bucket"]
        );
        assert_eq!(
            names("sum by (instance) (rate(a_total{result=\"error\"}[10m]))\n  / sum by (instance) (rate(a_total[10m])) > 0.5"),
            ["a_total"]
        );
        assert_eq!(
            names("up{job=~\"x|y\"} == 0 and on(instance) b offset 5m unless c > bool 1e3"),
            ["b", "c", "up"]
        );
        assert_eq!(
            names("sum(rate(x_sum[5m])) without (le) / ignoring(a, b) group_left(c) y"),
            ["x_sum", "y"]
        );
        assert_eq!(names(r#"max(z{label="by (q)"})"#), ["z"]);
    }

    #[test]
    fn histogram_series_map_to_their_family() {
        let f = families(
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\n# TYPE c counter\nc 1\n# TYPE s summary\n",
        );
        assert!(exposes(&f, "h"));
        assert!(exposes(&f, "h_bucket"));
        assert!(exposes(&f, "h_sum"));
        assert!(exposes(&f, "c"));
        assert!(!exposes(&f, "c_count"));
        assert!(exposes(&f, "s_count"));
        assert!(!exposes(&f, "s_bucket"));
        assert!(!exposes(&f, "missing"));
    }
}
