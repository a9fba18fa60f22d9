//! The module's code is one straight stack: `docs/development.md` draws the
//! layers of `src/` and of `harness/src/`, and this test holds the code to
//! that drawing. A module may use only modules of the layers below its own
//! (never one of its own layer, never one above), every file is in the
//! drawing, and no files import each other in a circle, inside a rule
//! family's folder included.
//!
//! The imports are read from the source text: `crate::` paths (brace groups
//! included), `super::` paths, and `mod` declarations. Unit tests
//! (`#[cfg(test)] mod ...`, last in their file by the code's convention) may
//! reach anywhere and are left out, as `cargo modules` leaves them out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const DEVELOPMENT_DOC: &str = "docs/development.md";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tree's layers as the doc draws them, top first: the block after
/// `<!-- layers: TREE -->`, one layer a line, its modules separated by `|`,
/// then (after two spaces) what the layer is.
fn drawn_layers(tree: &str) -> Vec<Vec<String>> {
    let doc = fs::read_to_string(repository().join(DEVELOPMENT_DOC)).expect("the doc reads");
    let marker = format!("<!-- layers: {tree} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("{DEVELOPMENT_DOC} has no {marker}"))
        .1;
    let block = after
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .unwrap_or_else(|| panic!("{marker} is not followed by a ```text block"))
        .0;
    block
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let modules = line.trim().split("  ").next().unwrap_or_default();
            modules
                .split('|')
                .map(|module| module.trim().to_string())
                .collect()
        })
        .collect()
}

/// `lib`, `rules`, `rules::control_plane`: a file's module path in its tree.
fn module_name(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("under the root");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("the tree reads") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without its unit tests and comments.
fn production_code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            pair[0].trim() == "#[cfg(test)]"
                && pair[1]
                    .trim_start_matches("pub(crate) ")
                    .trim_start()
                    .starts_with("mod ")
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|line| line.split_once("//").map_or(*line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first segment of each path in `{a::b, c, d::{e, f}}`, or of `a::b`.
fn first_segments(after: &str) -> Vec<String> {
    let after = after.trim_start();
    if let Some(group) = after.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&group[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items
            .into_iter()
            .map(|item| identifier(item.trim()).to_string())
            .filter(|name| !name.is_empty() && name != "self")
            .collect()
    } else {
        vec![identifier(after).to_string()]
    }
}

/// The modules of the tree that `module`'s code uses.
fn imports(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let parent = module.rsplit_once("::").map_or("", |(parent, _)| parent);
    // `crate::x` is the module `x` (or, when `x` is no file, a re-export of
    // the crate root: the root's own file).
    for (at, _) in code.match_indices("crate::") {
        for first in first_segments(&code[at + "crate::".len()..]) {
            used.insert(if modules.contains(&first) {
                first
            } else {
                "lib".to_string()
            });
        }
    }
    // `super::x` is the sibling `x` when there is one, otherwise the parent.
    for (at, _) in code.match_indices("super::") {
        for first in first_segments(&code[at + "super::".len()..]) {
            let sibling = if parent.is_empty() {
                first.clone()
            } else {
                format!("{parent}::{first}")
            };
            used.insert(if modules.contains(&sibling) {
                sibling
            } else if parent.is_empty() {
                "lib".to_string()
            } else {
                parent.to_string()
            });
        }
    }
    // A module uses the children it declares.
    for line in code.lines() {
        let line = line.trim_start();
        let declared = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "));
        if let Some(rest) = declared {
            let child = identifier(rest);
            let child = if module == "lib" {
                child.to_string()
            } else {
                format!("{module}::{child}")
            };
            if modules.contains(&child) {
                used.insert(child);
            }
        }
    }
    used.remove(module);
    used
}

/// Every file of the tree and the files it uses.
fn import_graph(tree: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = repository().join(tree);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_name(&root, f)).collect();
    files
        .iter()
        .map(|file| {
            let module = module_name(&root, file);
            let code = production_code(&fs::read_to_string(file).expect("the file reads"));
            let used = imports(&module, &code, &modules);
            (module, used)
        })
        .collect()
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The tree's import edges that break the drawing: a module of a layer
/// using one of its own layer or of a layer above, or a module missing
/// from the drawing.
fn layer_breaches(
    tree: &str,
    layers: &[Vec<String>],
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(depth, modules)| modules.iter().map(move |m| (m.as_str(), depth)))
        .collect();
    let mut breaches = Vec::new();
    for (module, used) in graph {
        let Some(&depth) = layer_of.get(top(module)) else {
            breaches.push(format!(
                "{tree}: `{module}` is in no layer of {DEVELOPMENT_DOC}"
            ));
            continue;
        };
        for dependency in used {
            if top(dependency) == top(module) {
                continue; // one family's files: the circle check covers them
            }
            match layer_of.get(top(dependency)) {
                Some(&below) if below > depth => {}
                Some(&level) => breaches.push(format!(
                    "{tree}: `{module}` (layer {}) uses `{dependency}` (layer {}), which is not below it",
                    depth + 1,
                    level + 1
                )),
                None => {} // reported as missing from the drawing on its own row
            }
        }
    }
    for listed in layer_of.keys() {
        if !graph.keys().any(|module| top(module) == *listed) {
            breaches.push(format!(
                "{tree}: the drawing lists `{listed}`, which has no file"
            ));
        }
    }
    breaches
}

/// One import circle of the graph, as the path around it, if it has any.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(module) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|m| m == module).unwrap_or(0);
                let mut found = path[from..].to_vec();
                found.push(module.to_string());
                return Some(found);
            }
            None => {}
        }
        marks.insert(module.to_string(), Mark::Open);
        path.push(module.to_string());
        for dependency in graph.get(module).into_iter().flatten() {
            if let Some(found) = visit(dependency, graph, marks, path) {
                return Some(found);
            }
        }
        path.pop();
        marks.insert(module.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut marks, &mut Vec::new()))
}

#[test]
fn the_policy_is_one_straight_stack() {
    let graph = import_graph("src");
    let layers = drawn_layers("src");
    assert_eq!(layer_breaches("src", &layers, &graph), Vec::<String>::new());
    assert_eq!(circle(&graph), None, "an import circle in src/");
}

#[test]
fn the_harness_is_one_straight_stack() {
    let graph = import_graph("harness/src");
    let layers = drawn_layers("harness/src");
    assert_eq!(
        layer_breaches("harness/src", &layers, &graph),
        Vec::<String>::new()
    );
    assert_eq!(circle(&graph), None, "an import circle in harness/src/");
}

/// The check itself: the imports it must see, and the breaches it must
/// report, on code written for it.
#[test]
fn the_reader_sees_every_form_of_import() {
    let modules: BTreeSet<String> = ["lib", "a", "b", "c", "rules", "rules::x", "rules::y"]
        .into_iter()
        .map(String::from)
        .collect();
    let code = production_code(
        "use crate::a::Thing;\nuse crate::{b::{One, Two}, c};\n// crate::rules in a comment\n\
         fn f() { crate::a::g() }\n#[cfg(test)]\nmod tests {\n    use crate::rules::x;\n}\n",
    );
    let expected: BTreeSet<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
    assert_eq!(imports("lib", &code, &modules), expected);

    let family = "use super::y::Name;\nuse super::{Context, Rule};\n";
    let expected: BTreeSet<String> = ["rules", "rules::y"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(imports("rules::x", family, &modules), expected);

    let declares = "mod x;\npub(crate) mod y;\npub use x::Thing;\n";
    let expected: BTreeSet<String> = ["rules::x", "rules::y"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(imports("rules", declares, &modules), expected);
}

fn graph_of(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    edges
        .iter()
        .map(|(module, used)| {
            let used = used.iter().map(|m| m.to_string()).collect();
            (module.to_string(), used)
        })
        .collect()
}

#[test]
fn a_circle_is_found() {
    let graph = graph_of(&[
        ("lib", &["rules"]),
        ("rules", &["rules::x"]),
        ("rules::x", &["rules"]),
    ]);
    assert_eq!(
        circle(&graph),
        Some(vec!["rules".into(), "rules::x".into(), "rules".into()])
    );
    let straight = graph_of(&[
        ("lib", &["rules"]),
        ("rules", &["rules::x"]),
        ("rules::x", &[]),
    ]);
    assert_eq!(circle(&straight), None);
}

#[test]
fn an_import_up_or_across_a_layer_is_a_breach() {
    let layers: Vec<Vec<String>> = vec![
        vec!["lib".into()],
        vec!["a".into(), "b".into()],
        vec!["c".into()],
    ];
    let graph = graph_of(&[
        ("lib", &["a", "c"]),
        ("a", &["b"]),
        ("b", &[]),
        ("c", &["lib"]),
        ("d", &[]),
    ]);
    assert_eq!(
        layer_breaches("t", &layers, &graph),
        vec![
            "t: `a` (layer 2) uses `b` (layer 2), which is not below it".to_string(),
            "t: `c` (layer 3) uses `lib` (layer 1), which is not below it".to_string(),
            "t: `d` is in no layer of docs/development.md".to_string(),
        ]
    );
    let graph = graph_of(&[
        ("lib", &["a", "b", "c"]),
        ("a", &["c"]),
        ("b", &["c"]),
        ("c", &[]),
    ]);
    assert_eq!(layer_breaches("t", &layers, &graph), Vec::<String>::new());
}
