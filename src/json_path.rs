//! Where in a JSON document a decoding error happened, as a field path
//! (`rules.safeToEvict`, `spec.containers[0].args`): serde_json reports a
//! line and column of a document the user never wrote, so the policy turns
//! the position back into the field it falls in. Only failures pay for this.

/// serde_json's message without its position, and the path of the field the
/// error points into: `(".rules.safeToEvict", "unknown variant ...")`. The
/// path is empty for the document itself.
pub fn locate(json: &str, error: &serde_json::Error) -> (String, String) {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = match message.strip_suffix(&suffix) {
        Some(bare) => bare.to_string(),
        None => message,
    };
    if error.line() == 0 {
        return (String::new(), message);
    }
    // serde_json places an error raised inside an object's (or list's) last
    // member just past the object's end, where it also places the errors of
    // the object as a whole: a missing field.
    let whole = message.starts_with("missing field");
    let at = offset(json, error.line(), error.column());
    (path_at(json, at, !whole), message)
}

/// The byte offset of serde_json's (1-based line, 0-based column) position.
fn offset(json: &str, line: usize, column: usize) -> usize {
    let line_start = json
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(at, _)| at + 1);
    let line_start = if line <= 1 { 0 } else { line_start };
    line_start.saturating_add(column).min(json.len())
}

enum Frame {
    /// In an object: the last key read, if a value follows it.
    Object { key: Option<String> },
    /// In a list: the item's index.
    List { index: usize },
}

/// The path of the innermost field open at `offset`, `.`-separated keys
/// and `[index]` items, each key with a leading dot. Right past an object
/// or list, `into_closed` names its last member.
fn path_at(json: &str, offset: usize, into_closed: bool) -> String {
    let text = json.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    let mut closed = None;
    let mut at = 0;
    while at < offset {
        if !text[at].is_ascii_whitespace() {
            closed = None;
        }
        match text[at] {
            b'{' => frames.push(Frame::Object { key: None }),
            b'[' => frames.push(Frame::List { index: 0 }),
            b'}' | b']' => closed = frames.pop(),
            b',' => match frames.last_mut() {
                Some(Frame::Object { key }) => *key = None,
                Some(Frame::List { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let end = string_end(text, at);
                if let Some(Frame::Object { key: key @ None }) = frames.last_mut() {
                    let raw = &json[at..end];
                    *key = Some(
                        serde_json::from_str(raw)
                            .unwrap_or_else(|_| raw.trim_matches('"').to_string()),
                    );
                }
                at = end;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    if into_closed {
        frames.extend(closed);
    }
    let mut path = String::new();
    for frame in &frames {
        match frame {
            Frame::Object { key: Some(key) } => {
                path.push('.');
                path.push_str(key);
            }
            Frame::Object { key: None } => break,
            Frame::List { index } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

/// Past the closing quote of the string opening at `at` (or the end).
fn string_end(text: &[u8], mut at: usize) -> usize {
    at += 1;
    while let Some(byte) = text.get(at) {
        match byte {
            b'"' => return at + 1,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
        #[serde(default)]
        names: Vec<String>,
    }

    #[rstest]
    #[case::unknown_field(
        r#"{"inner": {"count": 1, "cuont": 2}}"#,
        ".inner.cuont",
        "unknown field `cuont`, expected `count` or `names`"
    )]
    #[case::wrong_type(
        r#"{"inner": {"count": "x"}}"#,
        ".inner.count",
        "invalid type: string \"x\", expected u32"
    )]
    #[case::missing_field(r#"{"inner": {"names": []}}"#, ".inner", "missing field `count`")]
    #[case::in_a_list(
        r#"{"items": [{"count": 1}, {"count": 1, "names": [1]}]}"#,
        ".items[1].names[0]",
        "invalid type: integer `1`, expected a string"
    )]
    #[case::across_lines(
        "{\n  \"items\": [\n    {\"count\": -1}\n  ]\n}",
        ".items[0].count",
        "invalid value: integer `-1`, expected u32"
    )]
    #[case::escaped_key(
        r#"{"inn\u0065r": {"count": true}}"#,
        ".inner.count",
        "invalid type: boolean `true`, expected u32"
    )]
    #[case::last_member(
        r#"{"items": [{"names": ["a"], "count": 1.5}]}"#,
        ".items[0].count",
        "invalid type: floating point `1.5`, expected u32"
    )]
    #[case::missing_in_a_list_item(
        r#"{"items": [{"names": []}]}"#,
        ".items[0]",
        "missing field `count`"
    )]
    #[case::top_level(r#""x""#, "", "invalid type: string \"x\", expected struct Outer")]
    fn errors_name_the_field(#[case] json: &str, #[case] path: &str, #[case] message: &str) {
        let error = serde_json::from_str::<Outer>(json).unwrap_err();
        assert_eq!(
            locate(json, &error),
            (path.to_string(), message.to_string())
        );
    }
}
