//! The crate's shape as a test: modules import only downwards, no import circle, no huge file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module's floor, top first: a module may import from its own floor or any below it.
/// The longest matching prefix decides, so `auth::session` can stand above `auth::password`.
const FLOORS: &[(&str, u8)] = &[
    ("", 0),
    ("layering", 0),
    ("main", 0),
    ("cli", 0),
    ("startup", 1),
    ("routes", 2),
    ("services", 3),
    ("jobs", 3),
    ("seed", 3),
    ("templates", 4),
    ("auth::session", 5),
    ("auth::csrf", 5),
    ("rate_limit", 5),
    ("state", 6),
    ("auth", 7),
    ("media", 7),
    ("card_payments", 7),
    ("crypto", 7),
    ("db_auth", 7),
    ("listing", 7),
    ("search", 7),
    ("assets", 7),
    ("metrics", 7),
    ("telemetry", 7),
    ("config", 8),
    ("client_ip", 9),
    ("canonical", 9),
    ("clock", 9),
    ("error", 9),
];

/// Past this, a file holds more than one idea.
const MAX_LINES: usize = 600;

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b` path in `code`, braces expanded (`crate::{a, b::c}`), as lower-case
/// segment lists (a path stops at its first type or value name).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        collect(after, Vec::new(), &mut found);
        rest = after;
    }
    found
}

fn collect(text: &str, prefix: Vec<String>, found: &mut Vec<Vec<String>>) {
    let mut segments = prefix;
    let mut text = text;
    loop {
        if let Some(group) = text.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        collect(group[start..i].trim(), segments.clone(), found);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        collect(group[start..i].trim(), segments.clone(), found);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let len = text
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(text.len());
        if len == 0 {
            break;
        }
        segments.push(text[..len].to_owned());
        match text[len..].strip_prefix("::") {
            Some(next) => text = next,
            None => break,
        }
    }
    if !segments.is_empty() {
        found.push(segments);
    }
}

fn floor(module: &str) -> u8 {
    FLOORS
        .iter()
        .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("module {module} has no floor in layering::FLOORS"))
}

struct Crate {
    /// Module → the modules it imports.
    imports: BTreeMap<String, BTreeSet<String>>,
    /// Module → its file's length in lines.
    lines: BTreeMap<String, usize>,
}

fn read_crate() -> Crate {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    let modules: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    let mut imports = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (module, code) in &sources {
        if module == "layering" {
            continue;
        }
        lines.insert(module.clone(), code.lines().count());
        let mut targets = BTreeSet::new();
        for path in crate_paths(code) {
            // The longest module the path names.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m.as_str()));
            if let Some(t) = target.filter(|t| t != module) {
                targets.insert(t);
            }
        }
        imports.insert(module.clone(), targets);
    }
    Crate { imports, lines }
}

/// A circle of imports through `start`, if there is one.
fn circle(imports: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        imports: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let here = path.last().unwrap().clone();
        for next in imports.get(&here).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(imports, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(imports, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn modules_import_only_from_their_floor_or_below() {
    let krate = read_crate();
    let upward: Vec<String> = krate
        .imports
        .iter()
        .flat_map(|(from, tos)| {
            tos.iter()
                .filter(|to| floor(to) < floor(from))
                .map(move |to| {
                    format!(
                        "{from} (floor {}) → {to} (floor {})",
                        floor(from),
                        floor(to)
                    )
                })
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point upwards:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_circle() {
    let krate = read_crate();
    let circles: Vec<String> = krate
        .imports
        .keys()
        .filter_map(|m| circle(&krate.imports, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_file_holds_more_than_one_idea() {
    let krate = read_crate();
    let long: Vec<String> = krate
        .lines
        .iter()
        .filter(|(_, n)| **n > MAX_LINES)
        .map(|(m, n)| format!("{m}: {n} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_path_reader_sees_grouped_and_nested_imports() {
    let found = crate_paths(
        "use crate::{auth::{csrf, session::X}, error::AppError};\nlet x = crate::media::store(1);",
    );
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        ["auth::csrf", "auth::session", "error", "media::store"]
    );
}
