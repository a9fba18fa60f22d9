//! Reading manifests as `kubectl apply -f` reads them: files in the order
//! given, folders recursively (`*.yaml`, `*.yml`, `*.json`, in path order),
//! `-` for standard input; multi-document YAML, `kind: List` flattened.
//!
//! Each document keeps its bytes, so that `--fix` can write the documents
//! the policy leaves alone exactly as they came, and its first line, so that
//! reports can point at it.
//!
//! A document that cannot be read (YAML that does not parse, an unrendered
//! Helm or Go template) does not stop the reading: as `kubectl apply -R -f`
//! reports each file it cannot read and applies the rest, it is kept as
//! [`Skip::Unreadable`], naming its file, its line and the parser's words,
//! and the documents after it are read as usual. The stream is split at
//! its `---` lines before any is parsed, so one broken document costs only
//! itself; only a file that is not UTF-8 text is unreadable as a whole.

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
    /// A document of a `--cluster` dump that cannot be read (a manifest's
    /// is judged around, see [`Skip::Unreadable`]).
    #[error("{0}")]
    Unreadable(Unreadable),
    #[error("{file}: not a cluster dump: {problem}")]
    NotADump { file: String, problem: String },
    /// The paths hold no Kubernetes object at all: each path, and what it
    /// held instead.
    #[error(
        "no Kubernetes object to judge: {} (pass --allow-empty if that is expected)",
        in_words(.0)
    )]
    NothingToJudge(Vec<String>),
}

/// `a`, `a and b`, `a, b and c`.
fn in_words(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
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
    /// Not judged, and why.
    Skipped(Skip),
}

/// Why a document is not judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// YAML, but not a Kubernetes object (a values file, a scalar): skipped
    /// with a note, as this reason says (`is not a Kubernetes object: ...`).
    NotAnObject(String),
    /// Not readable: an input error (exit 2), named once the rest is judged.
    Unreadable(Unreadable),
}

/// A document (or a whole file) the scanner cannot read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unreadable {
    /// As reports name it (`<stdin>` for standard input).
    pub file: String,
    /// 1-based among the file's documents; `None` when the whole file is
    /// unreadable (it is not UTF-8 text).
    pub document: Option<usize>,
    /// The document's first line of content; for a whole file, the line of
    /// its first byte that is not UTF-8.
    pub line: usize,
    /// What is wrong, in the parser's words: `is not valid YAML: ...`.
    pub problem: String,
}

impl std::fmt::Display for Unreadable {
    /// `app.yaml: document 2 (line 8) is not valid YAML: mapping values are
    /// not allowed in this context at line 14 column 13`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(document) => write!(
                f,
                "{}: document {document} (line {}) {}",
                self.file, self.line, self.problem
            ),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
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
    /// Splits and parses `source`. A document that is not YAML is kept as
    /// [`Skip::Unreadable`], naming the file, the document and the
    /// parser's reason, and the documents after it are read as usual; one
    /// that is YAML but not a Kubernetes object is kept as
    /// [`Skip::NotAnObject`].
    pub fn parse(source: Source) -> Self {
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
            let content = match parse_document(text, chunk.first_line) {
                Ok(value) => classify(value),
                Err(message) => Content::Skipped(Skip::Unreadable(Unreadable {
                    file: source.display_name().to_owned(),
                    document: Some(index),
                    line: first_line,
                    problem: format!("is not valid YAML: {message}{}", template_hint(text)),
                })),
            };
            documents.push(Document {
                index,
                line: first_line,
                columns,
                range: chunk.range,
                content,
            });
        }
        Self {
            source,
            preamble,
            documents,
        }
    }

    /// A file whose bytes are not UTF-8 text: unreadable as a whole (its
    /// encoding is not YAML's, so its documents cannot be told apart). Its
    /// text is its bytes with U+FFFD for those that are not UTF-8, which
    /// `--fix` writes back as they are.
    fn not_utf8(name: String, error: &std::string::FromUtf8Error) -> Self {
        let bytes = error.as_bytes();
        let text = String::from_utf8_lossy(bytes).into_owned();
        let valid = bytes
            .get(..error.utf8_error().valid_up_to())
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let (lines_before, column) = where_text_ends(&valid);
        let line = lines_before + 1;
        let source = Source { name, text };
        let unreadable = Unreadable {
            file: source.display_name().to_owned(),
            document: None,
            line,
            problem: format!(
                "is not UTF-8 text (at line {line} column {column}): none of its documents \
                 was read"
            ),
        };
        let whole = 0..source.text.len();
        let columns = source
            .text
            .lines()
            .nth(line - 1)
            .map_or(1, |text| text.chars().count() + 1);
        Self {
            preamble: 0..0,
            documents: vec![Document {
                index: 1,
                line,
                columns,
                range: whole,
                content: Content::Skipped(Skip::Unreadable(unreadable)),
            }],
            source,
        }
    }

    /// The documents it holds that cannot be read, in order.
    pub fn unreadable(&self) -> impl Iterator<Item = &Unreadable> {
        self.documents
            .iter()
            .filter_map(|document| match &document.content {
                Content::Skipped(Skip::Unreadable(unreadable)) => Some(unreadable),
                _ => None,
            })
    }

    /// The Kubernetes objects it holds (each item of a `kind: List` is one).
    pub fn object_count(&self) -> usize {
        self.documents
            .iter()
            .map(|document| match &document.content {
                Content::Object(_) => 1,
                Content::List { items, .. } => items.len(),
                Content::Empty | Content::Skipped(_) => 0,
            })
            .sum()
    }

    /// Nothing but comments, blank lines and `---`.
    pub fn is_blank(&self) -> bool {
        self.documents
            .iter()
            .all(|document| document.content == Content::Empty)
    }
}

/// The one YAML document of `text`, a chunk of a file starting on its line
/// `first_line` (`null` when it holds none), or why it cannot be read.
fn parse_document(text: &str, first_line: usize) -> Result<Value, String> {
    let mut values = parse_yaml(text, first_line)?;
    match values.len() {
        0 => Ok(Value::Null),
        1 => Ok(values.swap_remove(0)),
        // Only a `...` end marker followed by more YAML gets here.
        count => Err(format!(
            "holds {count} documents without a `---` between them"
        )),
    }
}

/// What to add to a parser's message about `text`: a hint when the
/// document looks like an unrendered template, which users meet most (a
/// chart's `templates/`, `{{config_data}}`-style examples).
fn template_hint(text: &str) -> &'static str {
    if text.contains("{{") {
        " (it holds `{{`: a Helm or Go template must be rendered first, e.g. by `helm template`)"
    } else {
        ""
    }
}

/// The YAML documents of `text`, a chunk of a file starting on its line
/// `first_line`. An error's message places it by the file's lines and
/// columns, as every message of the scanner does.
fn parse_yaml(text: &str, first_line: usize) -> Result<Vec<Value>, String> {
    let parse = |text: &str| -> Result<Vec<Value>, serde_yaml_ng::Error> {
        serde_yaml_ng::Deserializer::from_str(text)
            .map(Value::deserialize)
            .collect()
    };
    parse(text).map_err(|error| {
        // libyaml counts lines from the start of the text it is given, and
        // its messages can name two places ("... at line 2 column 1, while
        // parsing a flow sequence at line 1 column 6"). Parsed again behind
        // as many empty lines as the file has before the chunk (which
        // changes nothing in YAML), the same error names the file's lines;
        // columns are the file's already, a chunk starting a line.
        let padding = first_line.saturating_sub(1);
        let padded = format!("{}{text}", "\n".repeat(padding));
        let message = parse(&padded).err().unwrap_or(error).to_string();
        position_as_line(message, text, padding, first_line)
    })
}

/// libyaml's reader places what it refuses (a control character) by byte
/// offset, `at position N`, in the text it was given (`text` behind
/// `padding` empty lines): that place as the file's line and column.
pub(crate) fn position_as_line(
    mut message: String,
    text: &str,
    padding: usize,
    first_line: usize,
) -> String {
    const AT_POSITION: &str = " at position ";
    let Some(start) = message.find(AT_POSITION) else {
        return message;
    };
    let digits = start + AT_POSITION.len();
    let end = message[digits..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(message.len(), |length| digits + length);
    let offset = message[digits..end]
        .parse::<usize>()
        .ok()
        .and_then(|position| position.checked_sub(padding))
        .filter(|offset| text.is_char_boundary(*offset));
    if let Some(offset) = offset {
        let (lines_before, column) = where_text_ends(&text[..offset]);
        let line = first_line + lines_before;
        message.replace_range(start..end, &format!(" at line {line} column {column}"));
    }
    message
}

/// Where the character after `before` sits: how many line breaks come
/// before it, and its column (1-based, in characters).
fn where_text_ends(before: &str) -> (usize, usize) {
    let lines_before = before.matches('\n').count();
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (lines_before, column)
}

/// What a parsed document is.
fn classify(value: Value) -> Content {
    match value {
        Value::Null => Content::Empty,
        Value::Object(ref fields) if fields.get("kind").and_then(Value::as_str) == Some("List") => {
            let items = match fields.get("items") {
                Some(Value::Array(items)) => items.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Content::Skipped(Skip::NotAnObject(
                        "is a List whose `items` is not a list".into(),
                    ))
                }
            };
            if let Some(position) = items.iter().position(|item| object_problem(item).is_some()) {
                let problem = object_problem(&items[position]).unwrap_or_default();
                return Content::Skipped(Skip::NotAnObject(format!(
                    "is a List whose item {} {problem}",
                    position + 1
                )));
            }
            Content::List { list: value, items }
        }
        value => match object_problem(&value) {
            Some(problem) => Content::Skipped(Skip::NotAnObject(problem)),
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

/// Reads and parses every path the user named, in order: `-` is standard
/// input, a folder is walked recursively for `*.yaml`, `*.yml` and
/// `*.json` files in path order, anything else is read as a file.
///
/// A document that cannot be read is kept as [`Skip::Unreadable`] and the
/// reading goes on: the caller judges the rest and names them all (see
/// [`Manifest::unreadable`]). A path that cannot be read at all (missing,
/// a folder that cannot be listed) is an error.
///
/// Paths that hold no Kubernetes object at all (an empty folder, empty
/// standard input, only comments or values files) are an error naming
/// each of them, unless `allow_empty`: a wrong path in CI must not pass
/// as a clean scan. Unreadable documents are an error of their own: with
/// any, this check is left to them.
pub fn read_manifests(paths: &[PathBuf], allow_empty: bool) -> Result<Vec<Manifest>, InputError> {
    let mut manifests = Vec::new();
    let mut empty = Vec::new();
    for path in paths {
        let (named, parsed) = read_path(path)?;
        empty.push(named.without_objects(path, &parsed));
        manifests.extend(parsed);
    }
    let objects: usize = manifests.iter().map(Manifest::object_count).sum();
    let unreadable = manifests.iter().any(|m| m.unreadable().next().is_some());
    if objects == 0 && !unreadable && !allow_empty {
        return Err(InputError::NothingToJudge(
            empty.into_iter().flatten().collect(),
        ));
    }
    Ok(manifests)
}

/// What kind of path the user named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Stdin,
    Folder,
    File,
}

impl Named {
    /// What `path` held, in words, when its `manifests` hold no object.
    fn without_objects(self, path: &Path, manifests: &[Manifest]) -> Option<String> {
        if manifests.iter().map(Manifest::object_count).sum::<usize>() > 0 {
            return None;
        }
        let blank = manifests.iter().all(Manifest::is_blank);
        let name = path.display();
        Some(match (self, manifests.len()) {
            (Self::Folder, 0) => format!("{name} has no *.yaml, *.yml or *.json file"),
            (Self::Folder, 1) => format!("the 1 manifest file in {name} holds none"),
            (Self::Folder, files) => format!("the {files} manifest files in {name} hold none"),
            (Self::Stdin, _) if blank => "standard input is empty".to_owned(),
            (Self::Stdin, _) => "standard input holds none".to_owned(),
            (Self::File, _) if blank => format!("{name} is empty"),
            (Self::File, _) => format!("{name} holds none"),
        })
    }
}

/// The manifests one named path gives.
fn read_path(path: &Path) -> Result<(Named, Vec<Manifest>), InputError> {
    if path.as_os_str() == STDIN {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|cause| InputError::Io {
                path: "<stdin>".to_owned(),
                cause,
            })?;
        Ok((Named::Stdin, vec![manifest_of(STDIN.to_owned(), bytes)]))
    } else if path.is_dir() {
        let files = manifest_files(path)?
            .iter()
            .map(|file| read_file(file))
            .collect::<Result<_, _>>()?;
        Ok((Named::Folder, files))
    } else {
        Ok((Named::File, vec![read_file(path)?]))
    }
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

fn read_file(path: &Path) -> Result<Manifest, InputError> {
    let bytes = std::fs::read(path).map_err(|cause| InputError::Io {
        path: path.display().to_string(),
        cause,
    })?;
    Ok(manifest_of(path.display().to_string(), bytes))
}

/// The source `name` holding `bytes`, parsed.
fn manifest_of(name: String, bytes: Vec<u8>) -> Manifest {
    match String::from_utf8(bytes) {
        Ok(text) => Manifest::parse(Source { name, text }),
        Err(error) => Manifest::not_utf8(name, &error),
    }
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
    let manifest = read_file(path)?;
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
            Content::Skipped(Skip::NotAnObject(problem)) => {
                return Err(not_a_dump(format!(
                    "document {} (line {}) {problem}",
                    document.index, document.line
                )))
            }
            // A dump is read whole, or not at all.
            Content::Skipped(Skip::Unreadable(unreadable)) => {
                return Err(InputError::Unreadable(unreadable))
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
    }

    /// What the manifest's unreadable documents say, one line each.
    fn unreadable(manifest: &Manifest) -> Vec<String> {
        manifest.unreadable().map(ToString::to_string).collect()
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
    #[case::list_item(
        "apiVersion: v1\nkind: List\nitems: [{a: 1}]\n",
        "is a List whose item 1 is not a Kubernetes object"
    )]
    #[case::list_items("apiVersion: v1\nkind: List\nitems: 3\n", "is a List whose `items`")]
    fn non_objects_are_skipped_with_a_reason(#[case] text: &str, #[case] reason: &str) {
        let manifest = parse(text);
        match &manifest.documents[0].content {
            Content::Skipped(Skip::NotAnObject(why)) => assert!(why.contains(reason), "{why}"),
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

    /// A broken document is named (file, document, line, the parser's
    /// words) and costs only itself: the stream is split at `---` before
    /// any document is parsed, so the documents after it are read.
    #[test]
    fn bad_yaml_names_the_file_and_the_document_and_the_rest_is_read() {
        let manifest = Manifest::parse(Source {
            name: "bad.yaml".into(),
            text: "apiVersion: v1\nkind: A\n---\nkey: [unclosed\n---\napiVersion: v1\nkind: B\n"
                .into(),
        });
        assert_eq!(
            unreadable(&manifest),
            ["bad.yaml: document 2 (line 4) is not valid YAML: did not find expected ',' or ']' \
              at line 5 column 1, while parsing a flow sequence at line 4 column 6"]
        );
        let kinds: Vec<&str> = manifest
            .documents
            .iter()
            .filter_map(|document| match &document.content {
                Content::Object(object) => object["kind"].as_str(),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, ["A", "B"]);
        assert_eq!(manifest.object_count(), 2);
        // Its bytes stay, for `--fix` to write back as they came.
        let broken = &manifest.documents[1];
        assert_eq!(
            &manifest.source.text[broken.range.clone()],
            "---\nkey: [unclosed\n"
        );
    }

    /// libyaml counts from the start of the text it parses; the scanner
    /// parses one document at a time, and still names the file's lines.
    #[rstest]
    #[case::first_document(
        "a: [\n",
        "did not find expected node content at line 2 column 1, while parsing a flow node"
    )]
    #[case::after_comments(
        "# one\n# two\n---\n# three\na: b: c\n",
        "mapping values are not allowed in this context at line 5 column 5"
    )]
    #[case::third_document("a: 1\n---\nb: 2\n---\n\nc:\n\td\n", "found character that cannot start any token at line 7 column 1, while scanning for the next token")]
    #[case::control_character(
        "a: 1\n---\nb: \"x\u{1}\"\n",
        "control characters are not allowed at line 3 column 6"
    )]
    fn yaml_errors_are_placed_by_the_files_lines(#[case] text: &str, #[case] place: &str) {
        let messages = unreadable(&parse(text));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].ends_with(place), "{messages:?}");
    }

    /// Every kind of unreadable document in one file: each named with its
    /// line, the readable ones between them kept, in order.
    #[rstest]
    #[case::go_template(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  config: {{config_data}}\n",
        "m.yaml: document 1 (line 1) is not valid YAML: data.config: invalid type: map, expected \
         a string key at line 6 column 12 (it holds `{{`: a Helm or Go template must be rendered \
         first, e.g. by `helm template`)"
    )]
    #[case::helm_template(
        "# Source: chart/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Values.name }}\n",
        "m.yaml: document 1 (line 2) is not valid YAML: metadata.name: invalid type: map, \
         expected a string key at line 5 column 10 (it holds `{{`: a Helm or Go template must be \
         rendered first, e.g. by `helm template`)"
    )]
    #[case::helm_control_flow(
        "{{- if .Values.enabled }}\napiVersion: v1\nkind: Namespace\n{{- end }}\n",
        "m.yaml: document 1 (line 1) is not valid YAML"
    )]
    #[case::end_marker(
        "a: 1\n...\nb: 2\n",
        "m.yaml: document 1 (line 1) is not valid YAML: did not find expected <document start> at \
         line 3 column 1"
    )]
    fn unreadable_documents_say_why(#[case] text: &str, #[case] expected: &str) {
        let messages = unreadable(&parse(text));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with(expected), "{messages:?}");
    }

    /// Bytes that are not UTF-8 cannot be split into documents: the file
    /// is named as a whole, at its first such byte.
    #[test]
    fn a_file_that_is_not_utf8_is_unreadable_as_a_whole() {
        let bytes =
            b"apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xe9}\n---\napiVersion: v1\n";
        let manifest = manifest_of("latin1.yaml".into(), bytes.to_vec());
        assert_eq!(
            unreadable(&manifest),
            ["latin1.yaml: is not UTF-8 text (at line 3 column 21): none of its documents was read"]
        );
        assert_eq!(manifest.object_count(), 0);
        let Some(Unreadable { document, line, .. }) = manifest.unreadable().next() else {
            panic!("unreadable");
        };
        assert_eq!((*document, *line), (None, 3));
    }

    /// A `--cluster` dump is the cluster: read whole or refused.
    #[test]
    fn an_unreadable_dump_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dump = dir.path().join("dump.yaml");
        std::fs::write(
            &dump,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\na: [\n",
        )
        .expect("written");
        let error = read_cluster_dump(&dump).expect_err("unreadable");
        assert!(
            error
                .to_string()
                .ends_with("dump.yaml: document 2 (line 5) is not valid YAML: did not find expected node content at line 6 column 1, while parsing a flow node"),
            "{error}"
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
