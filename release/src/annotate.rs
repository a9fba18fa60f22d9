//! `kwctl annotate -m metadata.yml -u USAGE`, done by this crate: the
//! built module with the release metadata embedded in its custom section.

use std::path::Path;

use crate::error::{ReleaseError, Result};
use crate::metadata::{Metadata, ANNOTATION_VERSION};
use crate::project::{read_module, write_file, Project};
use crate::wasm::{custom_sections, replace_custom_section, METADATA_SECTION};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotated {
    pub module: Vec<u8>,
    pub metadata: Metadata,
    pub input_size: usize,
}

/// The metadata this project's release embeds: metadata.yml, the crate
/// version and the usage (the README and its reference, [`Project::usage`]).
pub fn release_metadata(project: &Project) -> Result<Metadata> {
    let usage = project.usage()?;
    Metadata::load(&project.metadata_path())?.for_release(&project.version, &usage)
}

/// Annotates `module` (its bytes) with `metadata`; pure, so the same inputs
/// always give the same bytes and hence the same OCI digest.
pub fn annotate_bytes(module: &[u8], metadata: &Metadata, what: &str) -> Result<Vec<u8>> {
    replace_custom_section(module, METADATA_SECTION, &metadata.to_json()?, what)
}

/// Reads the module at `input`, annotates it with the project's release
/// metadata and writes it to `output`.
pub fn annotate_file(project: &Project, input: &Path, output: &Path) -> Result<Annotated> {
    let original = read_module(input)?;
    let metadata = release_metadata(project)?;
    let module = annotate_bytes(&original, &metadata, &input.display().to_string())?;
    write_file(output, &module)?;
    Ok(Annotated {
        module,
        metadata,
        input_size: original.len(),
    })
}

/// The metadata embedded in an annotated module; exactly one section is
/// expected, as the policy server reads only one.
pub fn embedded_metadata(module: &[u8], what: &str) -> Result<Metadata> {
    let found = custom_sections(module, METADATA_SECTION, what)?;
    let [json] = found.as_slice() else {
        return Err(if found.is_empty() {
            ReleaseError::NotAnnotated {
                what: what.to_string(),
                section: METADATA_SECTION.to_string(),
            }
        } else {
            ReleaseError::InvalidMetadata(format!(
                "{what} has {} `{METADATA_SECTION}` sections",
                found.len()
            ))
        });
    };
    Metadata::from_json(json).map_err(|source| ReleaseError::SectionJson {
        what: what.to_string(),
        section: METADATA_SECTION.to_string(),
        source,
    })
}

/// Reads an annotated module, or says to run `annotate` first.
pub fn read_annotated(path: &Path) -> Result<Vec<u8>> {
    if !path.exists() {
        return Err(ReleaseError::AnnotatedModuleMissing {
            path: path.to_path_buf(),
        });
    }
    read_module(path)
}

/// The tag a release of `module` is pushed under: `v<crate version>`, but
/// only if the module was annotated for that version, so a stale build is
/// never published under a new tag.
pub fn release_tag(project: &Project, module: &[u8], path: &Path) -> Result<String> {
    let embedded = embedded_metadata(module, &path.display().to_string())?;
    let version = embedded.annotation(ANNOTATION_VERSION).unwrap_or_default();
    if version != project.version {
        return Err(ReleaseError::StaleAnnotation {
            path: path.to_path_buf(),
            embedded: version.to_string(),
            cargo: project.version.clone(),
        });
    }
    Ok(project.tag())
}
