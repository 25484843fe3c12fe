//! `portolan lint`: validation plus the governance rules over a set of descriptor files, for CI.
//!
//! The files are the model; a running catalog (`--against`) can add the entities they refer to
//! as context. Only findings on entities from the files are reported.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::model::{Entity, Graph};
use super::rules::{Finding, RuleConfig, Severity};
use crate::catalog::{descriptor, validate};

/// A document that could not be read or is invalid.
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct LintReport {
    pub files: usize,
    pub documents: usize,
    pub invalid: Vec<Invalid>,
    pub findings: Vec<Finding>,
}

impl LintReport {
    /// Invalid documents or error findings fail the run.
    pub fn failed(&self) -> bool {
        !self.invalid.is_empty() || self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}

/// Validates the files and runs every enabled rule over them, with `context` (entities as the
/// catalog API serves them) standing in for whatever the files refer to but do not define.
pub fn lint(files: &[PathBuf], context: &[Value], opts: &validate::Options, cfg: &RuleConfig) -> LintReport {
    let mut report = LintReport { files: files.len(), ..Default::default() };
    let mut local = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let docs = std::fs::read(file)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| descriptor::parse_file(&bytes, &name));
        let docs = match docs {
            Ok(d) => d,
            Err(message) => {
                report.invalid.push(Invalid { file: name, line: None, message });
                continue;
            }
        };
        for doc in docs {
            report.documents += 1;
            let invalid = |message: String| Invalid { file: name.clone(), line: Some(doc.line), message };
            let value = match doc.body {
                Ok(v) if v.is_object() => v,
                Ok(_) => {
                    report.invalid.push(invalid("expected an entity object at the root of the document".into()));
                    continue;
                }
                Err(e) => {
                    report.invalid.push(invalid(e));
                    continue;
                }
            };
            match validate::validate(value, opts) {
                Ok(valid) => {
                    if let Some(e) = Entity::from_value(&valid.value, Some(&name), Some(doc.line as i64)) {
                        local.push(e);
                    }
                }
                Err(problems) => {
                    for p in problems {
                        let at = if p.path.is_empty() { String::new() } else { format!("{}: ", p.path) };
                        report.invalid.push(invalid(format!("{at}{}", p.message)));
                    }
                }
            }
        }
    }
    let keys: HashSet<String> = local.iter().map(|e| e.key.clone()).collect();
    let mut graph = Graph::new(context.iter().filter_map(|v| Entity::from_value(v, None, None)));
    for e in local {
        graph.insert(e);
    }
    let (found, _) = super::evaluate_all(&graph, cfg);
    let mut findings: Vec<Finding> = found.into_iter().filter(|(k, _)| keys.contains(k)).flat_map(|(_, f)| f).collect();
    findings.sort_by(|a, b| (&a.file, a.line, &a.rule, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.message)));
    report.findings = findings;
    report
}

/// `file:line: severity rule-id: message` lines (invalid documents as `error invalid`).
pub fn human(report: &LintReport) -> String {
    let mut out = String::new();
    for i in &report.invalid {
        let line = i.line.map(|l| format!(":{l}")).unwrap_or_default();
        out.push_str(&format!("{}{line}: error invalid: {}\n", i.file, i.message));
    }
    for f in &report.findings {
        let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        out.push_str(&format!(
            "{}{line}: {} {}: {}\n",
            f.file.as_deref().unwrap_or("-"),
            f.severity.as_str(),
            f.rule,
            f.message
        ));
    }
    out
}

/// GitHub Actions workflow commands: `::error file=...,line=...,title=rule::message`.
pub fn github(report: &LintReport) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
    }
    fn prop(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for i in &report.invalid {
        let line = i.line.map(|l| format!(",line={l}")).unwrap_or_default();
        out.push_str(&format!("::error file={}{line},title=invalid::{}\n", prop(&i.file), data(&i.message)));
    }
    for f in &report.findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let file = f.file.as_deref().map(|p| format!("file={},", prop(p))).unwrap_or_default();
        let line = f.line.map(|l| format!("line={l},")).unwrap_or_default();
        out.push_str(&format!("::{command} {file}{line}title={}::{}\n", prop(&f.rule), data(&f.message)));
    }
    out
}
