//! The module's size: what every policy server downloads and compiles.

use std::path::Path;

use crate::error::Result;
use crate::project::read_module;
use crate::wasm::{sections, Section};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeReport {
    pub lines: Vec<String>,
}

impl std::fmt::Display for SizeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Human-readable size, e.g. `412.3 KiB`.
pub fn human(bytes: usize) -> String {
    // Display only: f64 is exact for any module size.
    let kib = bytes as f64 / 1024.0;
    if kib < 1024.0 {
        format!("{kib:.1} KiB")
    } else {
        format!("{:.2} MiB", kib / 1024.0)
    }
}

fn section_name(section: &Section) -> String {
    const NAMES: [&str; 14] = [
        "custom",
        "type",
        "import",
        "function",
        "table",
        "memory",
        "global",
        "export",
        "start",
        "element",
        "code",
        "data",
        "datacount",
        "tag",
    ];
    match section.id {
        0 => format!(
            "custom `{}`",
            crate::wasm::custom_section_name(section.data).unwrap_or("?")
        ),
        id => NAMES
            .get(usize::from(id))
            .map(|name| name.to_string())
            .unwrap_or_else(|| format!("section {id}")),
    }
}

/// Sizes of the built module (by section) and of the annotated one if it
/// exists, and against `baseline` when one is given.
pub fn report(module: &Path, annotated: &Path, baseline: Option<&Path>) -> Result<SizeReport> {
    let bytes = read_module(module)?;
    let mut lines = vec![format!(
        "{}: {} bytes ({})",
        module.display(),
        bytes.len(),
        human(bytes.len())
    )];
    let mut by_section = sections(&bytes, &module.display().to_string())?;
    by_section.sort_by_key(|s| std::cmp::Reverse(s.data.len()));
    for section in by_section {
        lines.push(format!(
            "  {:<28} {:>9} bytes",
            section_name(&section),
            section.data.len()
        ));
    }
    if annotated.exists() {
        let size = read_module(annotated)?.len();
        lines.push(format!(
            "{}: {} bytes ({}), {} of metadata",
            annotated.display(),
            size,
            human(size),
            size.saturating_sub(bytes.len())
        ));
    } else {
        lines.push(format!(
            "{}: not built (`policy-release annotate`)",
            annotated.display()
        ));
    }
    if let Some(baseline) = baseline {
        let before = read_module(baseline)?.len();
        lines.push(change(&baseline.display().to_string(), before, bytes.len()));
    }
    Ok(SizeReport { lines })
}

/// `against BASELINE (N bytes): +D bytes (+P %)`.
fn change(baseline: &str, before: usize, after: usize) -> String {
    // Display only: f64 is exact for any module size.
    let delta = after as i64 - before as i64;
    let percent = if before == 0 {
        0.0
    } else {
        delta as f64 * 100.0 / before as f64
    };
    format!("against {baseline} ({before} bytes): {delta:+} bytes ({percent:+.2} %)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_signed_in_bytes_and_percent() {
        assert_eq!(
            change("old.wasm", 200_000, 199_000),
            "against old.wasm (200000 bytes): -1000 bytes (-0.50 %)"
        );
        assert_eq!(
            change("old.wasm", 1000, 1010),
            "against old.wasm (1000 bytes): +10 bytes (+1.00 %)"
        );
        assert_eq!(
            change("old.wasm", 1000, 1000),
            "against old.wasm (1000 bytes): +0 bytes (+0.00 %)"
        );
    }
}
