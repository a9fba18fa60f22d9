//! docs/playground.png, the README's picture of the playground, is not older
//! than the files that decide what it shows. The browser test
//! (web/tests/playground.test.mjs, through web/tests/fingerprint.mjs) takes
//! the picture with `UPDATE_SCREENSHOT=1` and records, in a PNG tEXt chunk,
//! the SHA-256 of each of those files and of the text the page rendered; it
//! fails on any difference. This is the browserless half of that check: the
//! files' digests, on every `cargo test`.

mod common;

use sha2::{Digest, Sha256};
use std::path::Path;

/// The tEXt keyword web/tests/fingerprint.mjs writes.
const KEYWORD: &[u8] = b"linkerd-ha-policy playground";
const SCREENSHOT: &str = "docs/playground.png";
/// Files that must be among those recorded, whatever else the browser test adds.
const REQUIRED_SOURCES: [&str; 3] = ["web/index.html", "web/app.js", "web/style.css"];
const REGENERATE: &str = "regenerate it with `UPDATE_SCREENSHOT=1 make browser-test` (or `make \
     build && UPDATE_SCREENSHOT=1 \
     POLICY_WASM=$PWD/target/wasm32-wasip1/release/linkerd_ha_policy.wasm web/tests/run.sh`), look \
     at it, and commit docs/playground.png";

/// One PNG chunk: its type and its data.
type Chunk<'a> = ([u8; 4], &'a [u8]);

/// The PNG's chunks, checking lengths and CRCs.
fn chunks(png: &[u8]) -> Result<Vec<Chunk<'_>>, String> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut rest = png
        .strip_prefix(&SIGNATURE[..])
        .ok_or("not a PNG file (no signature)")?;
    let mut found = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(format!("{} stray bytes after the last chunk", rest.len()));
        }
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if rest.len() < 12 + length {
            return Err("a truncated chunk".into());
        }
        let kind: [u8; 4] = rest[4..8].try_into().unwrap();
        let crc = u32::from_be_bytes(rest[8 + length..12 + length].try_into().unwrap());
        if crc != crc32(&rest[4..8 + length]) {
            return Err(format!(
                "the CRC of a {} chunk is wrong",
                String::from_utf8_lossy(&kind)
            ));
        }
        found.push((kind, &rest[8..8 + length]));
        rest = &rest[12 + length..];
    }
    Ok(found)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The fingerprint recorded in the picture, or why there is none.
fn recorded_fingerprint(png: &[u8]) -> Result<serde_json::Value, String> {
    let chunks = chunks(png)?;
    if chunks.last().map(|(kind, _)| kind) != Some(b"IEND") {
        return Err("no IEND chunk at the end".into());
    }
    let text = chunks
        .iter()
        .filter(|(kind, _)| kind == b"tEXt")
        .find_map(|(_, data)| {
            data.strip_prefix(KEYWORD)
                .and_then(|rest| rest.strip_prefix(b"\0"))
        })
        .ok_or_else(|| {
            format!(
                "it carries no fingerprint (no \"{}\" tEXt chunk)",
                String::from_utf8_lossy(KEYWORD)
            )
        })?;
    serde_json::from_slice(text).map_err(|error| format!("its fingerprint is not JSON: {error}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What is stale in the picture at `root`, one line each.
fn stale_sources(root: &Path) -> Result<Vec<String>, String> {
    let png =
        std::fs::read(root.join(SCREENSHOT)).map_err(|error| format!("cannot read it: {error}"))?;
    let fingerprint = recorded_fingerprint(&png)?;
    if fingerprint["rendered"].as_str().is_none() {
        return Err("its fingerprint records no rendered text".into());
    }
    let sources = fingerprint["sources"]
        .as_object()
        .ok_or("its fingerprint records no sources")?;
    let mut stale = Vec::new();
    for required in REQUIRED_SOURCES {
        if !sources.contains_key(required) {
            stale.push(format!(
                "{required} is not among the files it was taken from"
            ));
        }
    }
    for (file, recorded) in sources {
        match std::fs::read(root.join(file)) {
            Ok(bytes) if recorded.as_str() == Some(sha256_hex(&bytes).as_str()) => {}
            Ok(_) => stale.push(format!("{file} changed since the picture was taken")),
            Err(error) => stale.push(format!("{file}, which it was taken from: {error}")),
        }
    }
    Ok(stale)
}

#[test]
fn committed_picture_is_not_older_than_the_page() {
    let root = common::project().root;
    match stale_sources(&root) {
        Ok(stale) if stale.is_empty() => {}
        Ok(stale) => panic!(
            "{SCREENSHOT} is older than the page:\n  {}\n{REGENERATE}",
            stale.join("\n  ")
        ),
        Err(problem) => panic!("{SCREENSHOT}: {problem}; {REGENERATE}"),
    }
}

#[test]
fn an_edited_page_makes_the_picture_stale() {
    let root = common::project().root;
    let dir = tempfile::tempdir().expect("temp dir");
    let png = std::fs::read(root.join(SCREENSHOT)).expect("the picture");
    let fingerprint = recorded_fingerprint(&png).expect("a fingerprint");
    for file in fingerprint["sources"].as_object().expect("sources").keys() {
        let to = dir.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), &to).expect("copy a source");
    }
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join(SCREENSHOT), &png).unwrap();
    assert_eq!(stale_sources(dir.path()), Ok(vec![]));

    let style = dir.path().join("web/style.css");
    let mut css = std::fs::read_to_string(&style).unwrap();
    css.push_str("\nbody { zoom: 2; }\n");
    std::fs::write(&style, css).unwrap();
    assert_eq!(
        stale_sources(dir.path()),
        Ok(vec![
            "web/style.css changed since the picture was taken".to_string()
        ])
    );

    // A picture without the chunk (one taken by hand, say) is stale too.
    let bare: Vec<u8> = {
        let mut out = png[..8].to_vec();
        let mut rest = &png[8..];
        while !rest.is_empty() {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            if &rest[4..8] != b"tEXt" {
                out.extend_from_slice(&rest[..12 + length]);
            }
            rest = &rest[12 + length..];
        }
        out
    };
    std::fs::write(dir.path().join(SCREENSHOT), bare).unwrap();
    let problem = stale_sources(dir.path()).expect_err("no fingerprint");
    assert!(problem.contains("carries no fingerprint"), "{problem}");
}
