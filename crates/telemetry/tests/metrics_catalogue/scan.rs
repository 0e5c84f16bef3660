//! Token-level scanning of Rust sources for metric names, of the catalogue
//! table in `docs/operations.md`, and of PromQL expressions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Macros of the `metrics` facade whose first argument is a metric name.
const EMITTING: [(&str, &str); 3] = [
    ("counter", "counter"),
    ("gauge", "gauge"),
    ("histogram", "histogram"),
];
const DESCRIBING: [(&str, &str); 3] = [
    ("describe_counter", "counter"),
    ("describe_gauge", "gauge"),
    ("describe_histogram", "histogram"),
];
/// Suffixes Prometheus adds to a histogram's series.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// One metric as the code emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub kind: &'static str,
    pub labels: BTreeSet<String>,
    /// `file:line` of every emitting call.
    pub sites: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_punct(token: Option<&Token>, c: char) -> bool {
    matches!(token, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

/// Rust source to tokens: comments dropped, string literals kept whole
/// (plain, byte and raw), char literals and lifetimes skipped.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            let (text, next, lines) = quoted(&chars, i + 1);
            tokens.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
            (i, line) = (next, line + lines);
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if c.is_alphanumeric() || c == '_' {
            let begin = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[begin..i].iter().collect();
            if (word == "r" || word == "br") && (at(i) == '"' || at(i) == '#') {
                let hashes = chars[i..].iter().take_while(|&&h| h == '#').count();
                let body = i + hashes + 1;
                let mut end = body;
                while end < chars.len()
                    && !(chars[end] == '"'
                        && chars[end + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == '#')
                            .count()
                            == hashes)
                {
                    end += 1;
                }
                let text: String = chars[body..end.min(chars.len())].iter().collect();
                line += text.matches('\n').count();
                tokens.push(Token {
                    tok: Tok::Str(text),
                    line: start_line,
                });
                i = end + 1 + hashes;
            } else if word == "b" && at(i) == '"' {
                let (text, next, lines) = quoted(&chars, i + 1);
                tokens.push(Token {
                    tok: Tok::Str(text),
                    line: start_line,
                });
                (i, line) = (next, line + lines);
            } else if word != "b" || at(i) != '\'' {
                tokens.push(Token {
                    tok: Tok::Ident(word),
                    line: start_line,
                });
            }
        } else {
            tokens.push(Token {
                tok: Tok::Punct(c),
                line: start_line,
            });
            i += 1;
        }
    }
    tokens
}

/// The text of a `"…"` literal whose body starts at `i`: (text, index after
/// the closing quote, newlines inside).
fn quoted(chars: &[char], mut i: usize) -> (String, usize, usize) {
    let mut text = String::new();
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' && i + 1 < chars.len() {
            text.push(chars[i + 1]);
            i += 2;
        } else {
            text.push(chars[i]);
            i += 1;
        }
    }
    let lines = text.matches('\n').count();
    (text, i + 1, lines)
}

/// Drops every item marked `#[cfg(test)]` (test modules and functions).
fn without_test_items(tokens: Vec<Token>) -> Vec<Token> {
    let attribute = ["#", "[", "cfg", "(", "test", ")", "]"];
    let text = |t: &Token| match &t.tok {
        Tok::Ident(s) => s.clone(),
        Tok::Punct(c) => c.to_string(),
        Tok::Str(_) => String::new(),
    };
    let mut kept = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_attr = tokens.len() >= i + attribute.len()
            && attribute
                .iter()
                .enumerate()
                .all(|(k, a)| text(&tokens[i + k]) == *a);
        if !is_attr {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        i += attribute.len();
        while i < tokens.len() && !is_punct(tokens.get(i), '{') && !is_punct(tokens.get(i), ';') {
            i += 1;
        }
        if is_punct(tokens.get(i), '{') {
            let mut depth = 0;
            while i < tokens.len() {
                if is_punct(tokens.get(i), '{') {
                    depth += 1;
                } else if is_punct(tokens.get(i), '}') {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                i += 1;
            }
        }
        i += 1;
    }
    kept
}

/// The comma-separated arguments of the macro call whose opening bracket is
/// at `open`.
fn macro_args(tokens: &[Token], open: usize) -> Vec<Vec<Tok>> {
    let mut args = vec![Vec::new()];
    let mut depth = 0;
    for token in &tokens[open + 1..] {
        match token.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') if depth == 0 => break,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        args.last_mut()
            .expect("one argument at least")
            .push(token.tok.clone());
    }
    args.retain(|arg| !arg.is_empty());
    args
}

/// Every metric the sources emit, or every problem found: a name that is
/// neither a literal nor a known string const, labels given other than as
/// `"key" => value`, one name with two types, a name without `intake_`.
pub fn scan_sources(files: &[(String, String)]) -> Result<BTreeMap<String, Metric>, Vec<String>> {
    let tokenized: Vec<(&str, Vec<Token>)> = files
        .iter()
        .map(|(name, text)| (name.as_str(), without_test_items(tokenize(text))))
        .collect();
    // const NAME: &str = "value"; per file.
    let mut consts: HashMap<String, Vec<(&str, String)>> = HashMap::new();
    for (file, tokens) in &tokenized {
        for (i, window) in tokens.windows(2).enumerate() {
            let (Tok::Ident(kw), Tok::Ident(name)) = (&window[0].tok, &window[1].tok) else {
                continue;
            };
            if kw != "const" {
                continue;
            }
            let rest = &tokens[i + 2..tokens.len().min(i + 14)];
            let Some(eq) = rest.iter().position(|t| t.tok == Tok::Punct('=')) else {
                continue;
            };
            if let (Some(Tok::Str(value)), true) = (
                rest.get(eq + 1).map(|t| &t.tok),
                is_punct(rest.get(eq + 2), ';'),
            ) {
                consts
                    .entry(name.clone())
                    .or_default()
                    .push((file, value.clone()));
            }
        }
    }
    let mut metrics: BTreeMap<String, Metric> = BTreeMap::new();
    let mut described: BTreeMap<String, (&'static str, String)> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, tokens) in &tokenized {
        for i in 0..tokens.len() {
            let Tok::Ident(word) = &tokens[i].tok else {
                continue;
            };
            let emitting = EMITTING.iter().find(|(m, _)| m == word);
            let describing = DESCRIBING.iter().find(|(m, _)| m == word);
            let Some(&(_, kind)) = emitting.or(describing) else {
                continue;
            };
            let opens = ['(', '[', '{']
                .iter()
                .any(|&c| is_punct(tokens.get(i + 2), c));
            if !is_punct(tokens.get(i + 1), '!') || !opens {
                continue;
            }
            let site = format!("{file}:{}", tokens[i].line);
            let args = macro_args(tokens, i + 2);
            let name = match args.first().map(Vec::as_slice) {
                Some([Tok::Str(name)]) => Some(name.clone()),
                Some(path) if is_path(path) => {
                    let Some(Tok::Ident(last)) = path.last() else {
                        unreachable!()
                    };
                    resolve(&consts, file, last)
                }
                _ => None,
            };
            let Some(name) = name else {
                problems.push(format!(
                    "{site}: {word}! with a name that is not a string literal or a const of one"
                ));
                continue;
            };
            if !name.starts_with("intake_") {
                problems.push(format!("{site}: metric {name} does not start with intake_"));
            }
            if describing.is_some() {
                described.insert(name, (kind, site));
                continue;
            }
            let mut labels = BTreeSet::new();
            for arg in &args[1..] {
                match arg.as_slice() {
                    [Tok::Str(key), Tok::Punct('='), Tok::Punct('>'), ..] => {
                        labels.insert(key.clone());
                    }
                    _ => problems.push(format!(
                        "{site}: {name}: labels must be \"key\" => value pairs"
                    )),
                }
            }
            let metric = metrics.entry(name.clone()).or_insert_with(|| Metric {
                kind,
                labels: BTreeSet::new(),
                sites: Vec::new(),
            });
            if metric.kind != kind {
                problems.push(format!(
                    "{site}: {name} is a {kind} here, a {} at {:?}",
                    metric.kind, metric.sites
                ));
            }
            metric.labels.extend(labels);
            metric.sites.push(site);
        }
    }
    for (name, (kind, site)) in &described {
        match metrics.get(name) {
            None => problems.push(format!("{site}: {name} is described but never emitted")),
            Some(metric) if metric.kind != *kind => problems.push(format!(
                "{site}: {name} is described as a {kind}, emitted as a {}",
                metric.kind
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(metrics)
    } else {
        Err(problems)
    }
}

fn is_path(tokens: &[Tok]) -> bool {
    matches!(tokens.last(), Some(Tok::Ident(_)))
        && tokens
            .iter()
            .all(|t| matches!(t, Tok::Ident(_) | Tok::Punct(':')))
}

/// A const's value: the one in `file` if there is one, else the only one.
fn resolve(
    consts: &HashMap<String, Vec<(&str, String)>>,
    file: &str,
    name: &str,
) -> Option<String> {
    let candidates = consts.get(name)?;
    if let Some((_, value)) = candidates.iter().find(|(f, _)| *f == file) {
        return Some(value.clone());
    }
    let values: BTreeSet<&String> = candidates.iter().map(|(_, v)| v).collect();
    (values.len() == 1)
        .then(|| values.into_iter().next().cloned())
        .flatten()
}

/// Rows `| \`name\` | type | \`label\`, … | … |` of the catalogue must match
/// the code: one row per metric, same type, same label set, no extra rows.
pub fn catalogue_problems(metrics: &BTreeMap<String, Metric>, doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        let Some(name) = cells
            .get(1)
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        if !name.starts_with("intake_") {
            continue;
        }
        *rows.entry(name.to_owned()).or_default() += 1;
        let Some(metric) = metrics.get(name) else {
            problems.push(format!("catalogue row for {name}, which no code emits"));
            continue;
        };
        let kind = cells.get(2).copied().unwrap_or_default();
        if kind != metric.kind {
            problems.push(format!(
                "{name}: catalogue says type {kind:?}, the code emits a {}",
                metric.kind
            ));
        }
        let documented: BTreeSet<String> = backticked(cells.get(3).copied().unwrap_or_default());
        if documented != metric.labels {
            problems.push(format!(
                "{name}: catalogue labels {documented:?}, the code uses {:?}",
                metric.labels
            ));
        }
    }
    for (name, metric) in metrics {
        match rows.get(name) {
            None => problems.push(format!(
                "{name} ({}, emitted at {}) has no catalogue row",
                metric.kind,
                metric.sites.join(", ")
            )),
            Some(&n) if n > 1 => problems.push(format!("{name} has {n} catalogue rows")),
            Some(_) => {}
        }
    }
    problems
}

fn backticked(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `intake_…` word in a text.
pub fn intake_names(text: &str) -> Vec<String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("intake_") {
        let before = rest[..at].chars().next_back();
        let word_len = rest[at..]
            .find(|c: char| !is_word(c))
            .unwrap_or(rest.len() - at);
        if !before.is_some_and(is_word) {
            names.push(rest[at..at + word_len].to_owned());
        }
        rest = &rest[at + word_len..];
    }
    names
}

/// The emitted metric a series name belongs to, and whether it is a
/// histogram's `_bucket` series.
pub fn base_metric<'a>(
    metrics: &'a BTreeMap<String, Metric>,
    series: &str,
) -> Option<(&'a Metric, bool)> {
    if let Some(metric) = metrics.get(series) {
        return Some((metric, false));
    }
    HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
        let metric = metrics.get(series.strip_suffix(suffix)?)?;
        (metric.kind == "histogram").then_some((metric, *suffix == "_bucket"))
    })
}

/// Problems of one PromQL expression: unknown series, selector labels the
/// metric lacks, `by`/`without` labels none of its metrics has.
pub fn expression_problems(metrics: &BTreeMap<String, Metric>, expr: &str) -> Vec<String> {
    let tokens = tokenize(expr);
    let mut problems = Vec::new();
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut grouping: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Tok::Ident(word) = &token.tok else {
            continue;
        };
        if word == "by" || word == "without" {
            if is_punct(tokens.get(i + 1), '(') {
                grouping.extend(idents_until(&tokens[i + 2..], ')'));
            }
            continue;
        }
        if !word.starts_with("intake_") {
            continue;
        }
        let Some((metric, bucket)) = base_metric(metrics, word) else {
            problems.push(format!("unknown metric {word} in `{}`", expr.trim()));
            continue;
        };
        let mut labels = metric.labels.clone();
        if bucket {
            labels.insert("le".to_owned());
        }
        if is_punct(tokens.get(i + 1), '{') {
            let selector = &tokens[i + 2..];
            for (k, t) in selector.iter().enumerate() {
                match &t.tok {
                    Tok::Punct('}') => break,
                    Tok::Ident(label)
                        if matches!(
                            selector.get(k + 1).map(|t| &t.tok),
                            Some(Tok::Punct('=' | '!'))
                        ) && !labels.contains(label) =>
                    {
                        problems.push(format!("{word} has no label {label} (has {labels:?})"));
                    }
                    _ => {}
                }
            }
        }
        known.extend(labels);
    }
    for label in grouping {
        if !known.contains(&label) {
            problems.push(format!(
                "grouping by {label}, which no metric of `{}` has",
                expr.trim()
            ));
        }
    }
    problems
}

fn idents_until(tokens: &[Token], end: char) -> Vec<String> {
    tokens
        .iter()
        .take_while(|t| t.tok != Tok::Punct(end))
        .filter_map(|t| match &t.tok {
            Tok::Ident(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// The `expr:` values of a Prometheus rules file (inline or block scalars).
pub fn yaml_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .copied()
                .collect();
            exprs.push(block.join("\n"));
        } else {
            exprs.push(value.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
    }
    exprs
}

/// Every `"expr"` string in a Grafana dashboard.
pub fn json_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                match child {
                    serde_json::Value::String(expr) if key == "expr" => out.push(expr.clone()),
                    _ => json_exprs(child, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| json_exprs(item, out)),
        _ => {}
    }
}
