//! `kwctl annotate -m metadata.yml -u README.md`, done by this crate: the
//! built module with the release metadata embedded in its custom section.

use std::path::Path;

use crate::error::{ReleaseError, Result};
use crate::metadata::Metadata;
use crate::project::{read_module, read_to_string, write, Project};
use crate::wasm::{custom_sections, replace_custom_section, METADATA_SECTION};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotated {
    pub module: Vec<u8>,
    pub metadata: Metadata,
    pub input_size: usize,
}

/// The metadata this project's release embeds: metadata.yml, the crate
/// version and the README.
pub fn release_metadata(project: &Project) -> Result<Metadata> {
    let usage = read_to_string(&project.readme_path())?;
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
    write(output, &module)?;
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
