//! Custom sections of a core WebAssembly module, read with `wasmparser` and
//! rewritten with `wasm-encoder`.

use std::borrow::Cow;

use wasm_encoder::{CustomSection, RawSection};
use wasmparser::{Encoding, Parser, Payload};

use crate::error::{ReleaseError, Result};

/// The custom section kwctl writes the policy metadata into and the policy
/// server reads it from.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// One top-level section as it appears in the module: its id and payload
/// (custom sections keep their name inside the payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    pub id: u8,
    pub data: &'a [u8],
}

/// The module's top-level sections in order, payloads borrowed from `module`.
/// `what` names the module in errors.
pub fn sections<'a>(module: &'a [u8], what: &str) -> Result<Vec<Section<'a>>> {
    let wasm_error = |source| ReleaseError::Wasm {
        what: what.to_string(),
        source,
    };
    let mut sections = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(wasm_error)?;
        if let Payload::Version {
            encoding: Encoding::Component,
            ..
        } = payload
        {
            return Err(ReleaseError::NotCoreModule {
                what: what.to_string(),
            });
        }
        // `as_section` yields each top-level section once (the code section
        // as a whole, not its individual function bodies).
        if let Some((id, range)) = payload.as_section() {
            let data = usize::try_from(range.start)
                .ok()
                .zip(usize::try_from(range.end).ok())
                .and_then(|(start, end)| module.get(start..end))
                // Unreachable in practice: the parser read this range from `module`.
                .ok_or_else(|| ReleaseError::NotCoreModule {
                    what: what.to_string(),
                })?;
            sections.push(Section { id, data });
        }
    }
    Ok(sections)
}

/// The payloads of every custom section called `name`, in order.
pub fn custom_sections<'a>(module: &'a [u8], name: &str, what: &str) -> Result<Vec<&'a [u8]>> {
    let wasm_error = |source| ReleaseError::Wasm {
        what: what.to_string(),
        source,
    };
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::CustomSection(reader) = payload.map_err(wasm_error)? {
            if reader.name() == name {
                found.push(reader.data());
            }
        }
    }
    Ok(found)
}

/// `module` with every custom section called `name` removed and one new one
/// holding `data` appended at the end; every other section is copied as is,
/// in its original order.
pub fn replace_custom_section(
    module: &[u8],
    name: &str,
    data: &[u8],
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Module::new();
    for section in sections(module, what)? {
        if section.id == 0 && custom_section_name(section.data) == Some(name) {
            continue;
        }
        out.section(&RawSection {
            id: section.id,
            data: section.data,
        });
    }
    out.section(&CustomSection {
        name: Cow::Borrowed(name),
        data: Cow::Borrowed(data),
    });
    Ok(out.finish())
}

/// The name at the start of a custom section's payload.
pub fn custom_section_name(payload: &[u8]) -> Option<&str> {
    let reader = wasmparser::BinaryReader::new(payload, 0);
    wasmparser::CustomSectionReader::new(reader)
        .ok()
        .map(|r| r.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{MemorySection, MemoryType, Module, TypeSection};

    fn module_with(custom: &[(&str, &[u8])]) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        for (name, data) in custom {
            module.section(&CustomSection {
                name: Cow::Borrowed(name),
                data: Cow::Borrowed(data),
            });
        }
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        module.finish()
    }

    #[test]
    fn replaces_existing_sections_and_keeps_the_rest() -> Result<()> {
        let original = module_with(&[
            (METADATA_SECTION, b"old"),
            ("producers", b"p"),
            (METADATA_SECTION, b"older"),
        ]);
        let annotated = replace_custom_section(&original, METADATA_SECTION, b"new", "test")?;
        assert_eq!(
            custom_sections(&annotated, METADATA_SECTION, "test")?,
            vec![b"new".as_slice()]
        );
        assert_eq!(
            custom_sections(&annotated, "producers", "test")?,
            vec![b"p".as_slice()]
        );
        let ids: Vec<u8> = sections(&annotated, "test")?.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![1, 0, 5, 0]);
        // Annotating twice gives the same bytes.
        let again = replace_custom_section(&annotated, METADATA_SECTION, b"new", "test")?;
        assert_eq!(annotated, again);
        Ok(())
    }

    #[test]
    fn rejects_garbage() {
        let error =
            replace_custom_section(b"not wasm", METADATA_SECTION, b"", "garbage").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("garbage is not a WebAssembly module"),
            "{error}"
        );
    }
}
