//! `--fix`: the manifests with the policy's mutations applied, in the same
//! order. A document the policy leaves alone is written byte for byte as it
//! came; a mutated one keeps its `---` line and leading comments (Helm's
//! `# Source:`) and is written as YAML. Scanning the output again changes
//! nothing, because the policy's mutations are idempotent.

use serde_json::Value;

use crate::input::{is_document_start, Content, Manifest};
use crate::scan::{Judgement, ObjectResult};

/// Why a mutated document could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{file}: document {document}: cannot write the fixed object as YAML: {cause}")]
pub struct FixError {
    file: String,
    document: usize,
    cause: serde_yaml_ng::Error,
}

/// Every manifest, fixed, one after the other.
pub fn fixed_manifests(
    manifests: &[Manifest],
    results: &[ObjectResult],
) -> Result<String, FixError> {
    let mut out = String::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let fixed = fixed_manifest(manifest, index, results)?;
        // Files joined into one stream need a separator between them.
        if !out.is_empty() && !fixed.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            if !fixed.starts_with("---") {
                out.push_str("---\n");
            }
        }
        out.push_str(&fixed);
    }
    Ok(out)
}

/// `manifest` (the `index`-th of the scan) with its mutated documents
/// rewritten.
fn fixed_manifest(
    manifest: &Manifest,
    index: usize,
    results: &[ObjectResult],
) -> Result<String, FixError> {
    let text = &manifest.source.text;
    let mut out = String::from(&text[manifest.preamble.clone()]);
    for (position, document) in manifest.documents.iter().enumerate() {
        let original = &text[document.range.clone()];
        let mutated = |item: Option<usize>| {
            results.iter().find_map(|result| {
                let at = &result.location;
                match &result.judgement {
                    Judgement::Mutated { object, .. }
                        if at.manifest == index && at.document == position && at.item == item =>
                    {
                        Some(object)
                    }
                    _ => None,
                }
            })
        };
        let fixed = match &document.content {
            Content::Object(object) => mutated(None).map(|m| restore_namespace(object, m)),
            Content::List { list, items } => {
                let fixed_items: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match mutated(Some(i)) {
                        Some(m) => restore_namespace(item, m),
                        None => item.clone(),
                    })
                    .collect();
                (fixed_items != *items).then(|| {
                    let mut list = list.clone();
                    list["items"] = Value::Array(fixed_items);
                    list
                })
            }
            Content::Empty | Content::Skipped(_) => None,
        };
        match fixed {
            None => out.push_str(original),
            Some(object) => {
                out.push_str(leading_lines(original));
                let yaml = serde_yaml_ng::to_string(&object).map_err(|cause| FixError {
                    file: manifest.source.display_name().to_owned(),
                    document: document.index,
                    cause,
                })?;
                out.push_str(&yaml);
            }
        }
    }
    Ok(out)
}

/// The mutated object, without the namespace the scan gave an object that
/// named none (the manifest stays namespace-free, as it was written).
fn restore_namespace(original: &Value, mutated: &Value) -> Value {
    let mut mutated = mutated.clone();
    if original.pointer("/metadata/namespace").is_none() {
        if let Some(metadata) = mutated.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("namespace");
        }
    }
    mutated
}

/// The document's `---` line and the comments and blank lines before its
/// content.
fn leading_lines(document: &str) -> &str {
    let mut end = 0;
    for line in document.split_inclusive('\n') {
        let trimmed = line.trim();
        let leading = trimmed.is_empty() || trimmed.starts_with('#') || is_document_start(line);
        if !leading {
            break;
        }
        end += line.len();
    }
    let kept = &document[..end];
    // A `---` line without its newline (the last line of a file) still
    // needs one before the YAML that follows.
    if kept.is_empty() || kept.ends_with('\n') {
        kept
    } else {
        ""
    }
}
