use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

#[test]
fn validate_accepts_the_demo_catalog() {
    let (code, out, err) = portolan(&["validate", demo_catalog().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("0 invalid"), "{err}");
}

const BAD: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: -bad-name-
spec:
  type: service
  lifecycle: production
  owner: team-a
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: no-owner
spec:
  type: service
  lifecycle: production
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: wrong-type
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: [not, a, string]
---
kind: Component
metadata: { name: [unclosed
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: fine
spec: { type: service, lifecycle: production, owner: team-a }
";

#[test]
fn validate_names_file_document_and_path_for_each_problem() {
    let dir = temp_dir();
    let file = write_file(dir.path(), "bad.yaml", BAD);
    let f = file.to_str().unwrap();
    let (code, out, err) = portolan(&["validate", f]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with(&format!("{f}:doc 0: /metadata/name: "))), "{out}");
    assert!(lines.contains(&format!("{f}:doc 1: /spec/owner: is required").as_str()), "{out}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("{f}:doc 2: /spec/definition: must be of type"))), "{out}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("{f}:doc 3: YAML error at line 29"))), "{out}");
    assert!(!out.contains("doc 4"), "the last document is valid: {out}");
    assert!(err.contains("1 valid, 4 invalid"), "{err}");
}

#[test]
fn validate_speaks_json_when_asked() {
    let dir = temp_dir();
    let file = write_file(dir.path(), "bad.yaml", BAD);
    let (code, out, _) = portolan(&["validate", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["documents"], 5);
    assert_eq!(v["invalid"], 4);
    let owner = v["problems"].as_array().unwrap().iter().find(|p| p["document"] == 1).unwrap();
    assert_eq!(owner["path"], "/spec/owner");
    assert_eq!(owner["entityRef"], "component:default/no-owner");
}

#[test]
fn validate_does_not_follow_placeholders_and_accepts_them_anywhere() {
    let dir = temp_dir();
    let file = write_file(
        dir.path(),
        "api.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: ph}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./does-not-exist.yaml\n",
    );
    let (code, out, err) = portolan(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // `$openapi` is not a placeholder: it is plain data, and an object is not a string.
    let other = write_file(
        dir.path(),
        "api2.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: ph}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $openapi: ./x.yaml\n",
    );
    let (code, out, _) = portolan(&["validate", other.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn validate_rejects_unknown_kinds_unless_allowed() {
    let dir = temp_dir();
    let file = write_file(
        dir.path(),
        "env.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {}\n",
    );
    let (code, out, _) = portolan(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("/kind: unknown kind"), "{out}");
    let (code, _, _) = portolan(&["validate", "--allow-kind", "Environment", file.to_str().unwrap()]);
    assert_eq!(code, 0);
}

#[test]
fn an_alias_bomb_is_rejected_fast() {
    let dir = temp_dir();
    let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut prev = 'a';
    for c in 'b'..='k' {
        s.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = c;
    }
    let file = write_file(dir.path(), "bomb.yaml", &s);
    let started = Instant::now();
    let (code, out, _) = portolan(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("YAML error"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn usage_errors_exit_2_and_help_and_version_work() {
    assert_eq!(portolan(&["validate"]).0, 2);
    assert_eq!(portolan(&["validate", "/no/such/path.yaml"]).0, 2);
    assert_eq!(portolan(&["frobnicate"]).0, 2);
    let (code, out, _) = portolan(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("portolan "), "{out}");
    for cmd in [&["--help"][..], &["serve", "--help"], &["migrate", "--help"], &["validate", "--help"]] {
        let (code, out, _) = portolan(cmd);
        assert_eq!(code, 0, "{cmd:?}");
        assert!(out.contains("Usage:"), "{out}");
    }
    let (_, out, _) = portolan(&["serve", "--help"]);
    for flag in ["--bind", "--database-url", "--data-dir", "--catalog", "--config", "--log-format"] {
        assert!(out.contains(flag), "serve --help lacks {flag}: {out}");
    }
}

#[test]
fn migrate_creates_the_schema_on_sqlite_and_postgres() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let (code, out, err) = portolan(&["migrate", "--database-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(dir.path().join("m.db").exists());
    if postgres_url().is_some() {
        let url = fresh_database(Db::Postgres, dir.path());
        let (code, out, err) = portolan(&["migrate", "--database-url", &url]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, _, err) = portolan(&["migrate", "--database-url", "mysql://nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[test]
fn import_registers_and_ingests_in_bulk_with_a_summary() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.path().join("i.db").display());
    let (code, out, err) = portolan(&["import", "--database-url", &url, demo_catalog().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 19 location(s): 130 entities"), "{out}");
    assert!(err.contains("19/19 locations"), "{err}");
    // Importing again changes nothing and still succeeds; a broken file makes it exit 1.
    let (code, out, _) = portolan(&["import", "--database-url", &url, demo_catalog().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("130 entities, 0 relation rows written"), "{out}");
    let bad = write_file(
        dir.path(),
        "bad.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {}\n",
    );
    let (code, out, err) = portolan(&["import", "--database-url", &url, bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("/spec/type"), "{err}");
}
