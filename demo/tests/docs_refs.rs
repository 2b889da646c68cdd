//! The teaching docs name the code that does each thing as `` `path/to/file.rs: name` ``
//! (docs/concepts.md, docs/beyond.md, docs/tour.md), and so does the tour's output (its
//! one table, `demo/src/tour/refs.rs`). This test keeps those names true: each file must
//! exist and define each name, so a rename that forgets the docs or the tour fails here.
//!
//! What is checked, in each doc's inline code spans:
//! - `file.rs: Name` or `file.rs: Type::name`: the file exists and defines `name` (a fn,
//!   type, const, field or enum variant) and, with a `Type::`, defines or implements `Type`;
//! - a bare `name` or `Type::name` that directly continues such a span (`a`, `b` or
//!   `a` (and `b`)): the same, in the same file;
//! - a span that is a repository path (`demo/tests/docs_refs.rs`): the path exists.

use std::path::{Path, PathBuf};

const DOCS: [&str; 3] = ["docs/concepts.md", "docs/beyond.md", "docs/tour.md"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// `Type::name` or `name`, Rust identifiers only.
fn is_code_name(s: &str) -> bool {
    !s.is_empty()
        && s.split("::").all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

fn is_repo_path(s: &str) -> bool {
    ["broker/", "client/", "demo/", "docs/", "benches/"]
        .iter()
        .any(|top| s.starts_with(top))
        && !s.contains(' ')
}

/// Whether the text between two spans only joins them: `, `, ` and `, `(and `, …
fn only_joins(gap: &str) -> bool {
    gap.split(|c: char| c.is_whitespace() || ",;()".contains(c))
        .all(|word| word.is_empty() || ["and", "or", "then"].contains(&word))
}

/// Whether `source` holds `text` not followed by another identifier character, so that
/// `struct GroupStat` does not match `struct GroupState`.
fn has(source: &str, text: &str) -> bool {
    source.match_indices(text).any(|(at, _)| {
        source[at + text.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// Whether `source` defines `name` (`Type::item` or `item`).
fn defines(source: &str, name: &str) -> bool {
    let (ty, item) = match name.rsplit_once("::") {
        Some((ty, item)) => (Some(ty), item),
        None => (None, name),
    };
    // A fn, a type, a const or static, a struct field, or an enum variant.
    let item_found = [
        "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "pub ", "    ",
    ]
    .iter()
    .any(|kind| {
        let decl = format!("{kind}{item}");
        match *kind {
            "pub " => has(source, &format!("{decl}:")),
            "    " => [format!("{decl}("), format!("{decl},"), format!("{decl} {{")]
                .iter()
                .any(|p| source.contains(p.as_str())),
            _ => has(source, &decl),
        }
    });
    let type_found = ty.is_none_or(|ty| {
        ["struct ", "enum ", "trait ", "impl "]
            .iter()
            .any(|kind| has(source, &format!("{kind}{ty}")))
    });
    item_found && type_found
}

/// Every problem with the code references of one doc.
fn problems(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(doc)).expect("the doc exists");
    // Outside fenced blocks, odd pieces between backticks are inline code spans.
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            prose += line;
            prose.push('\n');
        }
    }
    let pieces: Vec<&str> = prose.split('`').collect();
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None; // (file, its source)
    for (i, span) in pieces.iter().enumerate().skip(1).step_by(2) {
        let span = span.split_whitespace().collect::<Vec<_>>().join(" ");
        let gap = pieces[i - 1];
        if let Some((file, names)) = span.split_once(".rs: ") {
            let file = format!("{file}.rs");
            match std::fs::read_to_string(root().join(&file)) {
                Ok(source) => {
                    for name in names.split(", ") {
                        if !defines(&source, name) {
                            out.push(format!("{doc}: `{span}`: {file} defines no `{name}`"));
                        }
                    }
                    current = Some((file, source));
                }
                Err(e) => {
                    out.push(format!("{doc}: `{span}`: cannot read {file}: {e}"));
                    current = None;
                }
            }
        } else if is_repo_path(&span) {
            if !root().join(&span).exists() {
                out.push(format!("{doc}: `{span}` does not exist"));
            }
            current = None;
        } else if let Some((file, source)) = current.as_ref().filter(|_| only_joins(gap)) {
            if is_code_name(&span) && !defines(source, &span) {
                out.push(format!("{doc}: `{span}` (after {file}): not defined there"));
            }
        } else {
            current = None;
        }
    }
    out
}

#[test]
fn every_file_and_function_the_teaching_docs_name_exists() {
    let all: Vec<String> = DOCS.iter().flat_map(|doc| problems(doc)).collect();
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn every_file_and_function_the_tour_names_exists() {
    let all: Vec<String> = minikafka_demo::tour::refs::ALL
        .iter()
        .filter_map(|r| match std::fs::read_to_string(root().join(r.file)) {
            Ok(source) if defines(&source, r.name) => None,
            Ok(_) => Some(format!("tour: {} defines no `{}`", r.file, r.name)),
            Err(e) => Some(format!("tour: cannot read {}: {e}", r.file)),
        })
        .collect();
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn the_check_catches_a_wrong_name() {
    let source = "pub struct Log;\nimpl Log {\n    pub fn append(&self) {}\n}\n";
    assert!(defines(source, "Log::append"));
    assert!(!defines(source, "Log::read"));
    assert!(!defines(source, "Segment::append"));
    assert!(!defines(source, "Lo"), "a prefix of a name is not the name");
    assert!(only_joins(", "));
    assert!(only_joins(" (and "));
    assert!(!only_joins(" appends commits to "));
}
