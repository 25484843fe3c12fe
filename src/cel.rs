//! CEL, the language of scorecard checks and campaign filters: the one module that knows the
//! `cel` crate (pinned; its releases break its API, so a new one touches this file only).
//!
//! An expression is compiled once, when its descriptor is read, and evaluated many times against
//! variables built from JSON. CEL has no loops beyond its list macros (`all`, `exists`,
//! `exists_one`, `map`, `filter`), so a rule always ends; its cost is bounded here by the size of
//! its text and by how deeply those macros nest (the work of a macro is the size of its list, so
//! nesting multiplies). The inputs a rule reads are one entity's, so every list is small.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use serde_json::Value as Json;

/// The longest expression accepted, in bytes.
pub const MAX_SOURCE: usize = 4_096;
/// How deeply list macros may nest (`a.all(x, x.b.exists(y, ...))` is 2).
pub const MAX_MACRO_NESTING: usize = 2;
/// How deeply an expression may nest at all (parentheses, operators, calls).
pub const MAX_DEPTH: usize = 48;

static ENV: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A compiled expression.
pub struct Program {
    source: String,
    program: cel::Program,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Program").field(&self.source).finish()
    }
}

/// Why an expression does not compile, and where (1-based line and column, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "at line {l}, column {c}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

fn nowhere(message: impl Into<String>) -> CompileError {
    CompileError { line: None, column: None, message: message.into() }
}

/// A value's kind in words, for messages.
fn kind_of(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::Null) => Some("null"),
        Expr::Literal(LiteralValue::String(_)) => Some("a string"),
        Expr::Literal(LiteralValue::Bytes(_)) => Some("bytes"),
        Expr::Literal(_) => Some("a number"),
        Expr::List(_) => Some("a list"),
        Expr::Map(_) | Expr::Struct(_) => Some("a map"),
        Expr::Comprehension(c) if matches!(c.accu_init.expr, Expr::List(_)) => Some("a list (map or filter)"),
        Expr::Call(c) => match c.func_name.as_str() {
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" | "-_" | "size" | "int" | "uint" | "double" => Some("a number"),
            "string" | "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" => Some("a string"),
            "timestamp" => Some("a timestamp"),
            "duration" => Some("a duration"),
            "_?_:_" => {
                let (a, b) = (c.args.get(1)?, c.args.get(2)?);
                kind_of(&a.expr).and(kind_of(&b.expr))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The children of an expression.
fn children(e: &IdedExpr) -> Vec<&IdedExpr> {
    match &e.expr {
        Expr::Call(c) => c.target.iter().map(|t| &**t).chain(c.args.iter()).collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => m.entries.iter().flat_map(entry_children).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry_children).collect(),
        Expr::Select(s) => vec![&*s.operand],
        _ => Vec::new(),
    }
}

fn entry_children(e: &cel::common::ast::IdedEntryExpr) -> Vec<&IdedExpr> {
    match &e.expr {
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

/// (deepest nesting of list macros, deepest nesting of anything), without recursion.
fn nesting(root: &IdedExpr) -> (usize, usize) {
    let (mut macros, mut depth) = (0, 0);
    let mut stack = vec![(root, 0usize, 1usize)];
    while let Some((e, m, d)) = stack.pop() {
        let m = m + usize::from(matches!(e.expr, Expr::Comprehension(_)));
        macros = macros.max(m);
        depth = depth.max(d);
        stack.extend(children(e).into_iter().map(|c| (c, m, d + 1)));
    }
    (macros, depth)
}

/// Compiles an expression that must give true or false.
pub fn compile(source: &str) -> Result<Program, CompileError> {
    if source.trim().is_empty() {
        return Err(nowhere("is empty; write a CEL expression that gives true or false"));
    }
    if source.len() > MAX_SOURCE {
        return Err(nowhere(format!("is {} bytes long; an expression has at most {MAX_SOURCE}", source.len())));
    }
    // Deep nesting is refused before the parser sees it (its recursion follows the text's).
    let mut open = 0usize;
    for ch in source.chars() {
        match ch {
            '(' | '[' | '{' => {
                open += 1;
                if open > MAX_DEPTH {
                    return Err(nowhere(format!("nests brackets more than {MAX_DEPTH} deep")));
                }
            }
            ')' | ']' | '}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    let program = ENV.compile(source).map_err(|errs| match errs.errors.first() {
        Some(e) => CompileError {
            line: usize::try_from(e.pos.0).ok().filter(|&l| l > 0),
            column: usize::try_from(e.pos.1).ok().map(|c| c + 1),
            message: e.msg.clone(),
        },
        None => nowhere("is not valid CEL"),
    })?;
    let root = program.expression();
    let (macros, depth) = nesting(root);
    if macros > MAX_MACRO_NESTING {
        return Err(nowhere(format!(
            "nests list macros (all, exists, exists_one, map, filter) {macros} deep; at most {MAX_MACRO_NESTING} keep a rule's cost bounded"
        )));
    }
    if depth > MAX_DEPTH {
        return Err(nowhere(format!("nests more than {MAX_DEPTH} operations deep")));
    }
    if let Some(kind) = kind_of(&root.expr) {
        return Err(nowhere(format!("gives {kind}, not true or false")));
    }
    Ok(Program { source: source.to_owned(), program })
}

/// A value a rule reads.
#[derive(Clone, Debug)]
pub struct Value(cel::Value);

impl Value {
    pub fn null() -> Value {
        Value(cel::Value::Null)
    }

    /// An instant (milliseconds since the epoch) as a CEL timestamp.
    pub fn timestamp(ms: i64) -> Value {
        match chrono::DateTime::from_timestamp_millis(ms) {
            Some(t) => Value(cel::Value::Timestamp(t.fixed_offset())),
            None => Value::null(),
        }
    }

    /// JSON as CEL: whole numbers are ints, other numbers doubles, objects maps.
    pub fn from_json(j: &Json) -> Value {
        Value(convert(j))
    }
}

fn convert(j: &Json) -> cel::Value {
    match j {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(a) => cel::Value::List(Arc::new(a.iter().map(convert).collect())),
        Json::Object(o) => {
            let map: HashMap<String, cel::Value> = o.iter().map(|(k, v)| (k.clone(), convert(v))).collect();
            cel::Value::from(map)
        }
    }
}

/// Variables bound once, for many programs to read (binding costs more than evaluating).
pub struct Scope {
    ctx: cel::Context<'static, 'static>,
}

impl Scope {
    pub fn new(vars: &[(&str, &Value)]) -> Scope {
        let mut ctx = cel::Context::with_env(ENV.clone());
        for (name, v) in vars {
            ctx.add_variable_from_value(*name, v.0.clone());
        }
        Scope { ctx }
    }
}

impl Program {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to true or false with these variables; a run-time error (a missing field, a
    /// wrong type) or a value that is not a boolean is answered in words.
    pub fn eval_bool(&self, vars: &[(&str, &Value)]) -> Result<bool, String> {
        self.eval_in(&Scope::new(vars))
    }

    /// [`Self::eval_bool`] with variables bound already.
    pub fn eval_in(&self, scope: &Scope) -> Result<bool, String> {
        match self.program.execute(&scope.ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("gave {}, not true or false", type_name(&other))),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn type_name(v: &cel::Value) -> &'static str {
    match v {
        cel::Value::List(_) => "a list",
        cel::Value::Map(_) => "a map",
        cel::Value::Int(_) | cel::Value::UInt(_) | cel::Value::Float(_) => "a number",
        cel::Value::String(_) => "a string",
        cel::Value::Bytes(_) => "bytes",
        cel::Value::Null => "null",
        cel::Value::Duration(_) => "a duration",
        cel::Value::Timestamp(_) => "a timestamp",
        _ => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, entity: Json) -> Result<bool, String> {
        let p = compile(src).map_err(|e| e.to_string())?;
        let e = Value::from_json(&entity);
        let now = Value::timestamp(1_767_225_600_000);
        p.eval_bool(&[("entity", &e), ("now", &now)])
    }

    #[test]
    fn rules_read_json_with_macros_strings_and_time() {
        let e = json!({"metadata": {"name": "svc", "annotations": {"pagerduty.com/service-id": "P1"}, "tags": ["java", "prod"]}, "spec": {"n": 3, "x": 1.5}});
        assert_eq!(eval("'pagerduty.com/service-id' in entity.metadata.annotations", e.clone()), Ok(true));
        assert_eq!(eval("entity.metadata.tags.exists(t, t.startsWith('pro'))", e.clone()), Ok(true));
        assert_eq!(eval("entity.spec.n >= 3 && entity.spec.x < 2.0", e.clone()), Ok(true));
        assert_eq!(
            eval("now > timestamp('2025-12-01T00:00:00Z') && duration('24h') > duration('1h')", e.clone()),
            Ok(true)
        );
        assert_eq!(eval("has(entity.spec.lifecycle)", e.clone()), Ok(false));
        assert_eq!(eval("entity.metadata.name.matches('^s.c$')", e.clone()), Ok(true));
        // A missing field is a run-time error in words; a non-boolean result too.
        let err = eval("entity.spec.lifecycle == 'production'", e.clone()).unwrap_err();
        assert!(err.contains("lifecycle"), "{err}");
        assert_eq!(
            eval("entity.metadata.tags.map(t, t)[0] == 'java' ? entity.spec : false", e),
            Err("gave a map, not true or false".into())
        );
    }

    #[test]
    fn bad_rules_are_refused_with_their_place() {
        let e = compile("entity.metadata.name ==").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert_eq!(compile("1 + 2").unwrap_err().message, "gives a number, not true or false");
        assert_eq!(compile("'x'").unwrap_err().message, "gives a string, not true or false");
        assert_eq!(compile("[1].map(x, x)").unwrap_err().message, "gives a list (map or filter), not true or false");
        assert!(compile("a.all(x, x.b.all(y, y.c.all(z, z)))").unwrap_err().message.contains("3 deep"));
        assert!(compile("a.all(x, x.b.exists(y, y))").is_ok());
        assert!(compile(&"(".repeat(5000)).unwrap_err().message.contains("bytes long"));
        assert!(compile(&format!("{}true{}", "(".repeat(60), ")".repeat(60))).unwrap_err().message.contains("deep"));
        assert!(compile("   ").is_err());
    }
}
