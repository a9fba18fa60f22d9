//! Reading manifests as `kubectl apply -f` reads them: files in the order
//! given, folders recursively (`*.yaml`, `*.yml`, `*.json`, in path order),
//! `-` for standard input; multi-document YAML, `kind: List` flattened.
//!
//! Each document keeps its bytes, so that `--fix` can write the documents
//! the policy leaves alone exactly as they came, and its first line, so that
//! reports can point at it.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use cluster_sim::admission::is_namespaced_kind;
use cluster_sim::manifests::{default_namespace_of, type_name};
use cluster_sim::str_at;
use serde::Deserialize;
use serde_json::Value;

/// What `-` names: standard input.
pub const STDIN: &str = "-";

/// Why the manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: cannot read the folder: {cause}")]
    Folder { path: String, cause: walkdir::Error },
    #[error("{file}: document {document} (line {line}) is not valid YAML: {message}")]
    Yaml {
        file: String,
        document: usize,
        line: usize,
        message: String,
    },
    #[error("{file}: not a cluster dump: {problem}")]
    NotADump { file: String, problem: String },
}

/// One input: a file, or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// As the user named it (`-` for standard input, which reports call
    /// `<stdin>`).
    pub name: String,
    pub text: String,
}

impl Source {
    /// How reports name it.
    pub fn display_name(&self) -> &str {
        if self.name == STDIN {
            "<stdin>"
        } else {
            &self.name
        }
    }
}

/// One YAML document of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based among the source's documents.
    pub index: usize,
    /// 1-based line of its first line of content (not a comment or `---`).
    pub line: usize,
    /// One past the last column of that line (for reports' regions).
    pub columns: usize,
    /// Its bytes in the source, from its `---` line (if any) to the next.
    pub range: Range<usize>,
    pub content: Content,
}

/// What a document holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Nothing but comments and blank lines.
    Empty,
    /// One Kubernetes object.
    Object(Value),
    /// A `kind: List`: its items, each a Kubernetes object, in order, and
    /// the list itself (for `--fix`, which writes it back with its items).
    List { list: Value, items: Vec<Value> },
    /// Not a Kubernetes object; skipped, with this reason.
    Skipped(String),
}

/// A source split into its documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub source: Source,
    /// The bytes before the first document (comments before a leading
    /// `---`), kept for `--fix`.
    pub preamble: Range<usize>,
    pub documents: Vec<Document>,
}

impl Manifest {
    /// Splits and parses `source`. A document that is not YAML is an error
    /// naming the file and the document; one that is YAML but not a
    /// Kubernetes object is kept as [`Content::Skipped`].
    pub fn parse(source: Source) -> Result<Self, InputError> {
        let chunks = split_documents(&source.text);
        let mut documents = Vec::new();
        let mut preamble = 0..0;
        for (position, chunk) in chunks.into_iter().enumerate() {
            let text = &source.text[chunk.range.clone()];
            let content_line = first_content_line(text);
            let first_line = chunk.first_line + content_line;
            let columns = text
                .lines()
                .nth(content_line)
                .map_or(1, |line| line.chars().count() + 1);
            let is_preamble = position == 0 && !chunk.explicit_start && !has_content(text);
            if is_preamble {
                preamble = chunk.range;
                continue;
            }
            let index = documents.len() + 1;
            let yaml_error = |message: String| InputError::Yaml {
                file: source.display_name().to_owned(),
                document: index,
                line: first_line,
                message,
            };
            let mut values = Vec::new();
            for document in serde_yaml_ng::Deserializer::from_str(text) {
                let value =
                    Value::deserialize(document).map_err(|error| yaml_error(error.to_string()))?;
                values.push(value);
            }
            let value = match values.len() {
                0 => Value::Null,
                1 => values.swap_remove(0),
                // Only a `...` end marker followed by more YAML gets here.
                count => {
                    return Err(yaml_error(format!(
                        "holds {count} documents without a `---` between them"
                    )))
                }
            };
            documents.push(Document {
                index,
                line: first_line,
                columns,
                range: chunk.range,
                content: classify(value),
            });
        }
        Ok(Self {
            source,
            preamble,
            documents,
        })
    }
}

/// What a parsed document is.
fn classify(value: Value) -> Content {
    match value {
        Value::Null => Content::Empty,
        Value::Object(ref fields) if fields.get("kind").and_then(Value::as_str) == Some("List") => {
            let items = match fields.get("items") {
                Some(Value::Array(items)) => items.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Content::Skipped("a List whose `items` is not a list".into()),
            };
            if let Some(position) = items.iter().position(|item| object_problem(item).is_some()) {
                let problem = object_problem(&items[position]).unwrap_or_default();
                return Content::Skipped(format!("item {} of the List {problem}", position + 1));
            }
            Content::List { list: value, items }
        }
        value => match object_problem(&value) {
            Some(problem) => Content::Skipped(problem),
            None => Content::Object(value),
        },
    }
}

/// Why `value` is not a Kubernetes object, if it is not.
fn object_problem(value: &Value) -> Option<String> {
    let Value::Object(fields) = value else {
        return Some(format!("is {}, not a Kubernetes object", type_name(value)));
    };
    let missing: Vec<&str> = ["apiVersion", "kind"]
        .into_iter()
        .filter(|key| fields.get(*key).and_then(Value::as_str).is_none())
        .collect();
    match missing.as_slice() {
        [] => None,
        _ => Some(format!(
            "is not a Kubernetes object: no `{}`",
            missing.join("` or `")
        )),
    }
}

/// A document's bytes, before parsing.
struct Chunk {
    range: Range<usize>,
    /// 1-based line the chunk starts on.
    first_line: usize,
    /// It starts with a `---` line.
    explicit_start: bool,
}

/// Splits a YAML stream at its `---` lines (a line that is `---` alone or
/// followed by a space or tab, as YAML's directives-end marker).
fn split_documents(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut explicit_start = false;
    let mut offset = 0;
    for (line_number, line) in text.split_inclusive('\n').enumerate() {
        if is_document_start(line) && offset > start {
            chunks.push(Chunk {
                range: start..offset,
                first_line: start_line,
                explicit_start,
            });
            start = offset;
            start_line = line_number + 1;
        }
        if offset == start {
            explicit_start = is_document_start(line);
        }
        offset += line.len();
    }
    if offset > start || chunks.is_empty() {
        chunks.push(Chunk {
            range: start..offset,
            first_line: start_line,
            explicit_start,
        });
    }
    chunks
}

pub(crate) fn is_document_start(line: &str) -> bool {
    let line = line.trim_end_matches(['\n', '\r']);
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether a line says something besides comments, blanks and `---`.
fn is_content_line(line: &str) -> bool {
    let trimmed = line.trim();
    !(trimmed.is_empty() || trimmed.starts_with('#') || is_document_start(line))
}

fn has_content(text: &str) -> bool {
    text.lines().any(is_content_line)
}

/// Lines from the chunk's start to its first content line (0 when it has none).
fn first_content_line(text: &str) -> usize {
    text.lines().position(is_content_line).unwrap_or(0)
}

/// Reads every source the user named, in order: `-` is standard input, a
/// folder is walked recursively for `*.yaml`, `*.yml` and `*.json` files
/// in path order, anything else is read as a file.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, InputError> {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|cause| InputError::Io {
                    path: "<stdin>".to_owned(),
                    cause,
                })?;
            sources.push(Source {
                name: STDIN.to_owned(),
                text,
            });
        } else if path.is_dir() {
            for file in manifest_files(path)? {
                sources.push(read_file(&file)?);
            }
        } else {
            sources.push(read_file(path)?);
        }
    }
    Ok(sources)
}

/// The manifest files under `folder`, sorted by path.
fn manifest_files(folder: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(folder).sort_by_file_name() {
        let entry = entry.map_err(|cause| InputError::Folder {
            path: folder.display().to_string(),
            cause,
        })?;
        let is_manifest = entry
            .path()
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| matches!(extension, "yaml" | "yml" | "json"));
        if entry.file_type().is_file() && is_manifest {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

fn read_file(path: &Path) -> Result<Source, InputError> {
    let text = std::fs::read_to_string(path).map_err(|cause| InputError::Io {
        path: path.display().to_string(),
        cause,
    })?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}

/// The object as the API server receives it from `kubectl apply`: a
/// namespaced object that names no namespace is in `namespace`.
pub fn as_applied(object: &Value, namespace: &str) -> Value {
    let mut object = object.clone();
    if str_at(&object, &["kind"]).is_some_and(is_namespaced_kind) {
        default_namespace_of(&mut object, namespace);
    }
    object
}

/// The objects of `kubectl get -A -o yaml` dumps (or any manifests of
/// existing objects): every document must be a Kubernetes object or a List
/// of them, and a file must hold at least one document.
pub fn read_cluster_dump(path: &Path) -> Result<Vec<Value>, InputError> {
    let manifest = Manifest::parse(read_file(path)?)?;
    let not_a_dump = |problem: String| InputError::NotADump {
        file: path.display().to_string(),
        problem,
    };
    let mut objects = Vec::new();
    let mut documents = 0;
    for document in manifest.documents {
        match document.content {
            Content::Empty => continue,
            Content::Object(object) => objects.push(object),
            Content::List { items, .. } => objects.extend(items),
            Content::Skipped(problem) => {
                return Err(not_a_dump(format!(
                    "document {} (line {}) {problem}",
                    document.index, document.line
                )))
            }
        }
        documents += 1;
    }
    if documents == 0 {
        return Err(not_a_dump(
            "no objects (expected the output of `kubectl get -A -o yaml`)".to_owned(),
        ));
    }
    if let Some(unnamed) = objects
        .iter()
        .find(|object| str_at(object, &["metadata", "name"]).is_none())
    {
        return Err(not_a_dump(format!(
            "a {} without metadata.name",
            str_at(unnamed, &["kind"]).unwrap_or("object")
        )));
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn parse(text: &str) -> Manifest {
        Manifest::parse(Source {
            name: "m.yaml".into(),
            text: text.into(),
        })
        .expect("parses")
    }

    #[test]
    fn documents_keep_their_bytes_and_lines() {
        let text = "# header\n---\n# Source: a.yaml\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
        let manifest = parse(text);
        assert_eq!(&text[manifest.preamble.clone()], "# header\n");
        assert_eq!(manifest.documents.len(), 2);
        let first = &manifest.documents[0];
        assert_eq!((first.index, first.line), (1, 4));
        assert_eq!(
            &text[first.range.clone()],
            "---\n# Source: a.yaml\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
        );
        assert_eq!(manifest.documents[1].line, 8);
        let whole: String = std::iter::once(manifest.preamble.clone())
            .chain(manifest.documents.iter().map(|d| d.range.clone()))
            .map(|range| &text[range])
            .collect();
        assert_eq!(whole, text);
    }

    #[rstest]
    #[case::scalar("just text\n", "is a string, not a Kubernetes object")]
    #[case::no_kind("apiVersion: v1\nmetadata: {}\n", "no `kind`")]
    #[case::values_file("replicas: 3\n", "no `apiVersion` or `kind`")]
    #[case::list_item("apiVersion: v1\nkind: List\nitems: [{a: 1}]\n", "item 1 of the List")]
    fn non_objects_are_skipped_with_a_reason(#[case] text: &str, #[case] reason: &str) {
        let manifest = parse(text);
        match &manifest.documents[0].content {
            Content::Skipped(why) => assert!(why.contains(reason), "{why}"),
            other => panic!("expected a skipped document, got {other:?}"),
        }
    }

    #[test]
    fn lists_are_flattened_and_comment_only_documents_are_empty() {
        let manifest = parse(
            "---\n# nothing\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n",
        );
        assert_eq!(manifest.documents[0].content, Content::Empty);
        let Content::List { items, .. } = &manifest.documents[1].content else {
            panic!("a list");
        };
        assert_eq!(items[0]["metadata"]["name"], "a");
    }

    #[test]
    fn bad_yaml_names_the_file_and_the_document() {
        let error = Manifest::parse(Source {
            name: "bad.yaml".into(),
            text: "apiVersion: v1\nkind: A\n---\nkey: [unclosed\n".into(),
        })
        .expect_err("not YAML");
        let message = error.to_string();
        assert!(
            message.starts_with("bad.yaml: document 2 (line 4) is not valid YAML"),
            "{message}"
        );
    }

    #[test]
    fn a_separator_needs_a_line_of_its_own() {
        let manifest =
            parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: \"---\"\n  ---y: 1\n");
        assert_eq!(manifest.documents.len(), 1);
    }

    #[test]
    fn applied_objects_get_the_default_namespace_when_namespaced() {
        let deployment =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}});
        assert_eq!(
            as_applied(&deployment, "shop")["metadata"]["namespace"],
            "shop"
        );
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        assert_eq!(as_applied(&namespace, "shop"), namespace);
    }
}
