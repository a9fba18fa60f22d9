//! Mutations as edits of the request's own JSON text: the edits are spliced
//! into the bytes the API server sent, so every field the policy does not
//! own (known to this crate's Kubernetes version or not) keeps its exact
//! spelling, order, numbers and whitespace, and no second decode or tree is
//! built. [`Edit::apply`] gives the same edits on a `serde_json::Value`: it
//! states their meaning, and the tests hold the text splicing to it.

use serde::Serialize;
use serde_json::{Map, Value};

/// A value an edit writes, as the JSON text the splice inserts. Kept as
/// text rather than a `serde_json::Value`: the module then has no JSON tree
/// code at all (its maps are tree maps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// The JSON of `value`: a string, a number, or a struct of the rules'
    /// own (written with its members in sorted order, as a
    /// `serde_json::Value` would write them).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        // Strings, numbers and the rules' structs always serialise.
        Self(serde_json::to_string(value).unwrap_or_else(|_| "null".to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a `serde_json::Value` (for [`Edit::apply`]).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl From<&str> for JsonText {
    fn from(text: &str) -> Self {
        Self::of(text)
    }
}

impl From<String> for JsonText {
    fn from(text: String) -> Self {
        Self::of(&text)
    }
}

impl From<i32> for JsonText {
    fn from(number: i32) -> Self {
        Self::of(&number)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self(value.to_string())
    }
}

/// One change to the object, addressed by a path of object keys and array
/// indices from the object's root.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets `key` in the JSON object at `path`, creating missing objects on
    /// the way (a `null` counts as missing).
    Insert {
        path: Vec<String>,
        key: String,
        value: JsonText,
    },
    /// Appends `value` to the array at `path`, creating it when missing.
    Append { path: Vec<String>, value: JsonText },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot edit the object at /{path}: {reason}")]
pub struct EditError {
    pub path: String,
    pub reason: &'static str,
}

impl Edit {
    pub fn insert(path: Vec<String>, key: impl Into<String>, value: impl Into<JsonText>) -> Self {
        Self::Insert {
            path,
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn append(path: Vec<String>, value: impl Into<JsonText>) -> Self {
        Self::Append {
            path,
            value: value.into(),
        }
    }

    pub fn apply(&self, object: &mut Value) -> Result<(), EditError> {
        match self {
            Self::Insert { path, key, value } => {
                let value = parsed(value, path)?;
                let target = walk(object, path)?;
                as_object(target, path)?.insert(key.clone(), value);
            }
            Self::Append { path, value } => {
                let value = parsed(value, path)?;
                let target = walk(object, path)?;
                if target.is_null() {
                    *target = Value::Array(Vec::new());
                }
                match target {
                    Value::Array(items) => items.push(value),
                    _ => return Err(error(path, path.len(), "not a list")),
                }
            }
        }
        Ok(())
    }
}

fn parsed(value: &JsonText, path: &[String]) -> Result<Value, EditError> {
    value
        .to_value()
        .map_err(|_| error(path, path.len(), "not well-formed JSON"))
}

/// Applies every edit in order.
pub fn apply_all(object: &mut Value, edits: &[Edit]) -> Result<(), EditError> {
    edits.iter().try_for_each(|edit| edit.apply(object))
}

/// Applies every edit, in order, to the JSON text of an object and returns
/// the new text; bytes outside the edited places are copied as they were.
/// The result is what [`apply_all`] gives on the decoded object. Edits
/// that touch different places are made in one pass over the text; an edit
/// that reaches into what an earlier one writes starts another pass.
pub fn apply_to_text(json: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut edited: Option<String> = None;
    let mut batch = EditTree::default();
    for edit in edits {
        if !batch.add(edit) {
            edited = Some(splice(edited.as_deref().unwrap_or(json), &batch)?);
            batch = EditTree::default();
            // An empty pass takes any edit.
            if !batch.add(edit) {
                return Err(EditError {
                    path: edit.path().join("/"),
                    reason: "cannot be edited",
                });
            }
        }
    }
    let current = edited.as_deref().unwrap_or(json);
    if batch.is_empty() {
        return Ok(current.to_string());
    }
    splice(current, &batch)
}

/// The edits of one pass, as a tree of the places they touch.
#[derive(Default)]
struct EditTree<'e> {
    /// Object members to descend into or to set, in the order edits name
    /// them; each name once.
    members: Vec<(&'e str, Member<'e>)>,
    /// Items to append when this place is a list.
    appends: Vec<&'e JsonText>,
}

enum Member<'e> {
    Descend(EditTree<'e>),
    Set(&'e JsonText),
}

impl<'e> EditTree<'e> {
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.appends.is_empty()
    }

    fn member(&self, name: &str) -> Option<&Member<'e>> {
        self.members
            .iter()
            .rfind(|(member, _)| *member == name)
            .map(|(_, member)| member)
    }

    /// Whether `edit` can join this pass: it must not reach into a value
    /// an edit of the pass writes, nor write one that another reaches into.
    fn accepts(&self, edit: &Edit) -> bool {
        let mut node = Some(self);
        for segment in edit.path() {
            let Some(here) = node else { break };
            if !here.appends.is_empty() {
                return false;
            }
            node = match here.member(segment) {
                Some(Member::Descend(child)) => Some(child),
                Some(Member::Set(_)) => return false,
                None => None,
            };
        }
        match (edit, node) {
            (_, None) => true,
            (Edit::Insert { key, .. }, Some(here)) => {
                here.appends.is_empty() && !matches!(here.member(key), Some(Member::Descend(_)))
            }
            (Edit::Append { .. }, Some(here)) => here.members.is_empty(),
        }
    }

    /// Adds `edit` to the pass, if it can join it.
    fn add(&mut self, edit: &'e Edit) -> bool {
        if !self.accepts(edit) {
            return false;
        }
        let mut node = self;
        for segment in edit.path() {
            let Some(child) = node.child(segment) else {
                return false;
            };
            node = child;
        }
        match edit {
            Edit::Insert { key, value, .. } => {
                match node.members.iter_mut().find(|(member, _)| member == key) {
                    // The later value wins, as a second insert would have it.
                    Some((_, member)) => *member = Member::Set(value),
                    None => node.members.push((key, Member::Set(value))),
                }
            }
            Edit::Append { value, .. } => node.appends.push(value),
        }
        true
    }

    /// The member `segment` to descend into, made when missing; `None` if
    /// the pass sets it instead (which `accepts` rules out).
    fn child(&mut self, segment: &'e str) -> Option<&mut EditTree<'e>> {
        let index = match self.members.iter().rposition(|(name, _)| *name == segment) {
            Some(index) => index,
            None => {
                self.members
                    .push((segment, Member::Descend(EditTree::default())));
                self.members.len() - 1
            }
        };
        match &mut self.members[index].1 {
            Member::Descend(child) => Some(child),
            Member::Set(_) => None,
        }
    }
}

impl Edit {
    fn path(&self) -> &[String] {
        match self {
            Self::Insert { path, .. } | Self::Append { path, .. } => path,
        }
    }
}

/// One pass: every place in `tree` is found in `json` and edited there.
fn splice(json: &str, tree: &EditTree<'_>) -> Result<String, EditError> {
    let mut splicer = Splicer {
        text: json.as_bytes(),
        path: Vec::new(),
        pieces: Vec::new(),
        depth: 0,
        deepest: 0,
    };
    splicer.visit(tree, 0)?;
    if splicer.deepest > MAX_NESTING {
        return Err(EditError {
            path: String::new(),
            reason: "nested deeper than the policy server reads (126 levels)",
        });
    }
    let added: usize = splicer.pieces.iter().map(|p| p.text.len()).sum();
    let mut out = String::with_capacity(json.len() + added);
    let mut copied = 0;
    for piece in &splicer.pieces {
        // Pieces come in text order and never overlap: the walk is in order
        // and a replaced value is not also descended into.
        out.push_str(
            json.get(copied..piece.start)
                .ok_or_else(|| splicer.malformed())?,
        );
        out.push_str(&piece.text);
        copied = piece.end;
    }
    out.push_str(json.get(copied..).ok_or_else(|| splicer.malformed())?);
    Ok(out)
}

/// `text[start..end]` becomes `text`.
struct Piece {
    start: usize,
    end: usize,
    text: String,
}

/// How deep the answer's `mutated_object` may nest: serde_json, as the
/// policy server reads the answer, stops at 127 levels, and the answer
/// itself is one.
const MAX_NESTING: usize = 126;

struct Splicer<'t, 'e> {
    /// Objects and lists open where the walk is, and the most seen in the
    /// text and in what is added to it.
    depth: usize,
    deepest: usize,
    text: &'t [u8],
    /// Where the walk is, for errors.
    path: Vec<&'e str>,
    pieces: Vec<Piece>,
}

impl<'e> Splicer<'_, 'e> {
    /// Edits the value starting at (or after whitespace from) `at`; returns
    /// the position just past it.
    fn visit(&mut self, tree: &EditTree<'e>, at: usize) -> Result<usize, EditError> {
        let start = self.skip_whitespace(at);
        match self.byte(start)? {
            b'{' => self.visit_object(tree, start),
            b'[' => self.visit_list(tree, start),
            b'n' if self.text[start..].starts_with(b"null") => {
                // A null counts as missing.
                let text = generate(tree)?;
                self.note_nesting(&text);
                self.pieces.push(Piece {
                    start,
                    end: start + 4,
                    text,
                });
                Ok(start + 4)
            }
            _ if tree.appends.is_empty() => Err(self.error("not an object")),
            _ => Err(self.error("not a list")),
        }
    }

    fn visit_object(&mut self, tree: &EditTree<'e>, open: usize) -> Result<usize, EditError> {
        if !tree.appends.is_empty() {
            return Err(self.error("not a list"));
        }
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        let mut found = vec![false; tree.members.len()];
        let mut last_end = None;
        let mut at = self.skip_whitespace(open + 1);
        let close = loop {
            match self.byte(at)? {
                b'}' if last_end.is_none() => break at,
                b'"' => {}
                _ => return Err(self.malformed()),
            }
            let key_end = self.string_end(at)?;
            let key = &self.text[at + 1..key_end - 1];
            at = self.skip_whitespace(key_end);
            if self.byte(at)? != b':' {
                return Err(self.malformed());
            }
            let value_start = self.skip_whitespace(at + 1);
            let value_end = match member_index(tree, key)? {
                Some(index) => {
                    found[index] = true;
                    let (name, member) = &tree.members[index];
                    match member {
                        Member::Descend(child) => {
                            self.path.push(name);
                            let end = self.visit(child, value_start)?;
                            self.path.pop();
                            end
                        }
                        Member::Set(value) => {
                            let end = self.value_end(value_start)?;
                            let text = value.as_str().to_string();
                            self.note_nesting(&text);
                            self.pieces.push(Piece {
                                start: value_start,
                                end,
                                text,
                            });
                            end
                        }
                    }
                }
                None => self.value_end(value_start)?,
            };
            last_end = Some(value_end);
            at = self.skip_whitespace(value_end);
            match self.byte(at)? {
                b',' => at = self.skip_whitespace(at + 1),
                b'}' => break at,
                _ => return Err(self.malformed()),
            }
        };
        let mut added = String::new();
        for ((name, member), _) in tree
            .members
            .iter()
            .zip(&found)
            .filter(|(_, found)| !**found)
        {
            if last_end.is_some() || !added.is_empty() {
                added.push(',');
            }
            push_member(&mut added, name, member)?;
        }
        self.note_nesting(&added);
        self.depth -= 1;
        if !added.is_empty() {
            // After the last member, so the object's own layout stays.
            let at = last_end.unwrap_or(open + 1);
            self.pieces.push(Piece {
                start: at,
                end: at,
                text: added,
            });
        }
        Ok(close + 1)
    }

    fn visit_list(&mut self, tree: &EditTree<'e>, open: usize) -> Result<usize, EditError> {
        // Items to descend into, by index.
        let mut items = Vec::with_capacity(tree.members.len());
        for (name, member) in &tree.members {
            match (member, list_index(name)) {
                (Member::Descend(child), Some(index)) => items.push((index, *name, child)),
                _ => return Err(self.error("not an object")),
            }
        }
        // Looked up by index as the list is walked: edits name few items,
        // and a sort would cost the module a sort routine.
        let mut visited = 0;
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        let mut count = 0;
        let mut last_end = None;
        let mut at = self.skip_whitespace(open + 1);
        let close = loop {
            if self.byte(at)? == b']' && last_end.is_none() {
                break at;
            }
            let end = match items.iter().find(|(index, _, _)| *index == count) {
                Some((_, name, child)) => {
                    visited += 1;
                    self.path.push(name);
                    let end = self.visit(child, at)?;
                    self.path.pop();
                    end
                }
                None => self.value_end(at)?,
            };
            count += 1;
            last_end = Some(end);
            at = self.skip_whitespace(end);
            match self.byte(at)? {
                b',' => at = self.skip_whitespace(at + 1),
                b']' => break at,
                _ => return Err(self.malformed()),
            }
        };
        if visited < items.len() {
            // The first item the list is too short for (or a second name
            // for an index already edited).
            let missing = items
                .iter()
                .filter(|(index, _, _)| *index >= count)
                .min_by_key(|(index, _, _)| *index)
                .or(items.last());
            if let Some((_, name, _)) = missing {
                self.path.push(name);
            }
            return Err(self.error("no such list item"));
        }
        if !tree.appends.is_empty() {
            let mut added = String::new();
            for value in &tree.appends {
                if last_end.is_some() || !added.is_empty() {
                    added.push(',');
                }
                added.push_str(value.as_str());
            }
            self.note_nesting(&added);
            let at = last_end.unwrap_or(open + 1);
            self.pieces.push(Piece {
                start: at,
                end: at,
                text: added,
            });
        }
        self.depth -= 1;
        Ok(close + 1)
    }

    /// Text added inside the current object or list.
    fn note_nesting(&mut self, added: &str) {
        self.deepest = self.deepest.max(self.depth + nesting(added.as_bytes()));
    }

    fn byte(&self, at: usize) -> Result<u8, EditError> {
        self.text.get(at).copied().ok_or_else(|| self.malformed())
    }

    fn skip_whitespace(&self, mut at: usize) -> usize {
        while matches!(self.text.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    }

    /// Past the closing quote of the string opening at `at`.
    fn string_end(&self, at: usize) -> Result<usize, EditError> {
        let mut at = at + 1;
        loop {
            match self.byte(at)? {
                b'"' => return Ok(at + 1),
                b'\\' => at += 2,
                _ => at += 1,
            }
        }
    }

    /// Past the value starting at `at`.
    fn value_end(&mut self, at: usize) -> Result<usize, EditError> {
        match self.byte(at)? {
            b'"' => self.string_end(at),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut at = at;
                loop {
                    match self.byte(at)? {
                        b'"' => {
                            at = self.string_end(at)?;
                            continue;
                        }
                        b'{' | b'[' => {
                            depth += 1;
                            self.deepest = self.deepest.max(self.depth + depth);
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(at + 1);
                            }
                        }
                        _ => {}
                    }
                    at += 1;
                }
            }
            _ => {
                let end = at
                    + self.text[at..]
                        .iter()
                        .position(|b| {
                            matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                        })
                        .unwrap_or(self.text.len() - at);
                if end == at {
                    return Err(self.malformed());
                }
                Ok(end)
            }
        }
    }

    fn error(&self, reason: &'static str) -> EditError {
        EditError {
            path: self.path.join("/"),
            reason,
        }
    }

    fn malformed(&self) -> EditError {
        self.error("not well-formed JSON")
    }
}

/// Which of `tree`'s members the raw (still escaped) `key` names.
fn member_index(tree: &EditTree<'_>, key: &[u8]) -> Result<Option<usize>, EditError> {
    let position = |key: &[u8]| {
        tree.members
            .iter()
            .position(|(name, _)| name.as_bytes() == key)
    };
    if !key.contains(&b'\\') {
        return Ok(position(key));
    }
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    let key: String = serde_json::from_slice(&quoted).map_err(|_| EditError {
        path: String::new(),
        reason: "not well-formed JSON",
    })?;
    Ok(position(key.as_bytes()))
}

/// The value a missing (or null) place gets: the list of its appends, or
/// an object of its members.
fn generate(tree: &EditTree<'_>) -> Result<String, EditError> {
    if !tree.appends.is_empty() {
        let items: Vec<&str> = tree.appends.iter().map(|value| value.as_str()).collect();
        return Ok(format!("[{}]", items.join(",")));
    }
    let mut text = String::from("{");
    for (name, member) in &tree.members {
        if text.len() > 1 {
            text.push(',');
        }
        push_member(&mut text, name, member)?;
    }
    text.push('}');
    Ok(text)
}

/// Writes `"name":value` for a member the edits add.
fn push_member(text: &mut String, name: &str, member: &Member<'_>) -> Result<(), EditError> {
    text.push_str(&to_json(name)?);
    text.push(':');
    match member {
        Member::Descend(child) => text.push_str(&generate(child)?),
        Member::Set(value) => text.push_str(value.as_str()),
    }
    Ok(())
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, EditError> {
    serde_json::to_string(value).map_err(|_| EditError {
        path: String::new(),
        reason: "cannot be written as JSON",
    })
}

/// How many objects and lists nest in `json` at most.
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &byte in json {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A list index as a path segment: plain decimal, as the rules write it.
fn list_index(segment: &str) -> Option<usize> {
    let canonical = segment.bytes().all(|b| b.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    canonical.then(|| segment.parse().ok()).flatten()
}

/// Follows `path`, creating objects for missing keys.
fn walk<'v>(mut node: &'v mut Value, path: &[String]) -> Result<&'v mut Value, EditError> {
    for (depth, segment) in path.iter().enumerate() {
        node = match node {
            Value::Array(items) => match list_index(segment) {
                Some(index) => items
                    .get_mut(index)
                    .ok_or_else(|| error(path, depth + 1, "no such list item"))?,
                // A list where Kubernetes has a map.
                None => return Err(error(path, depth, "not an object")),
            },
            other => as_object(other, &path[..depth])?
                .entry(segment.clone())
                .or_insert(Value::Null),
        };
    }
    Ok(node)
}

fn as_object<'v>(
    node: &'v mut Value,
    path: &[String],
) -> Result<&'v mut Map<String, Value>, EditError> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(map) => Ok(map),
        _ => Err(error(path, path.len(), "not an object")),
    }
}

fn error(path: &[String], depth: usize, reason: &'static str) -> EditError {
    EditError {
        path: path[..depth.min(path.len())].join("/"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use serde_json::json;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn insert_creates_missing_maps_and_keeps_other_fields() {
        let mut object = json!({"metadata": {"name": "a", "futureField": {"x": 1}}, "spec": {}});
        Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .unwrap();
        assert_eq!(
            object,
            json!({"metadata": {"name": "a", "futureField": {"x": 1}, "annotations": {"k": "v"}}, "spec": {}})
        );
    }

    #[test]
    fn insert_replaces_null_maps() {
        let mut object = json!({"metadata": {"annotations": null}});
        Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .unwrap();
        assert_eq!(object, json!({"metadata": {"annotations": {"k": "v"}}}));
    }

    #[test]
    fn insert_follows_list_indices() {
        let mut object = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        Edit::insert(
            path(&["containers", "1", "resources", "requests"]),
            "cpu",
            "100m",
        )
        .apply(&mut object)
        .unwrap();
        assert_eq!(
            object["containers"][1]["resources"]["requests"]["cpu"],
            "100m"
        );
        assert_eq!(object["containers"][0], json!({"name": "a"}));
    }

    #[test]
    fn append_creates_the_list() {
        let mut object = json!({"spec": {}});
        Edit::append(path(&["spec", "terms"]), json!(1))
            .apply(&mut object)
            .unwrap();
        Edit::append(path(&["spec", "terms"]), json!(2))
            .apply(&mut object)
            .unwrap();
        assert_eq!(object, json!({"spec": {"terms": [1, 2]}}));
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let mut object = json!({"metadata": "text", "containers": []});
        assert!(Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .is_err());
        assert!(Edit::insert(path(&["containers", "3"]), "k", "v")
            .apply(&mut object)
            .is_err());
        assert!(Edit::append(path(&["metadata"]), json!(1))
            .apply(&mut object)
            .is_err());
    }

    fn edits_of(list: &[(&[&str], Option<&str>, Value)]) -> Vec<Edit> {
        list.iter()
            .map(|(at, key, value)| match key {
                Some(key) => Edit::insert(path(at), *key, value.clone()),
                None => Edit::append(path(at), value.clone()),
            })
            .collect()
    }

    #[rstest]
    #[case::into_an_existing_map_keeping_its_layout(
        "{\n  \"metadata\": {\n    \"name\": \"a\"\n  },\n  \"spec\": {}\n}",
        &[(&["metadata"][..], Some("k"), json!("v"))][..],
        "{\n  \"metadata\": {\n    \"name\": \"a\",\"k\":\"v\"\n  },\n  \"spec\": {}\n}"
    )]
    #[case::into_an_empty_map(
        r#"{"metadata": { }}"#,
        &[(&["metadata"][..], Some("k"), json!("v"))][..],
        r#"{"metadata": {"k":"v" }}"#
    )]
    #[case::missing_parents_are_created(
        r#"{"spec":{"x":1.50}}"#,
        &[(&["spec", "template", "metadata", "annotations"][..], Some("k"), json!("v"))][..],
        r#"{"spec":{"x":1.50,"template":{"metadata":{"annotations":{"k":"v"}}}}}"#
    )]
    #[case::a_null_parent_counts_as_missing(
        r#"{"metadata":{"annotations":null,"name":"a"}}"#,
        &[(&["metadata", "annotations"][..], Some("k"), json!("v"))][..],
        r#"{"metadata":{"annotations":{"k":"v"},"name":"a"}}"#
    )]
    #[case::an_existing_key_is_replaced_in_place(
        r#"{"a":{"k": "old" ,"z":1}}"#,
        &[(&["a"][..], Some("k"), json!({"new": [1]}))][..],
        r#"{"a":{"k": {"new":[1]} ,"z":1}}"#
    )]
    #[case::escaped_keys_are_matched_by_their_value(
        r#"{"m\u0065tadata":{"x":"\"}"}}"#,
        &[(&["metadata"][..], Some("k"), json!("v"))][..],
        r#"{"m\u0065tadata":{"x":"\"}","k":"v"}}"#
    )]
    #[case::list_items_by_index(
        r#"{"c":[{"name":"a"},{"name":"b","r":{}}]}"#,
        &[
            (&["c", "1", "r", "requests"][..], Some("cpu"), json!("100m")),
            (&["c", "0", "r", "requests"][..], Some("cpu"), json!("10m")),
            (&["c", "1", "r", "requests"][..], Some("memory"), json!("10Mi")),
        ][..],
        r#"{"c":[{"name":"a","r":{"requests":{"cpu":"10m"}}},{"name":"b","r":{"requests":{"cpu":"100m","memory":"10Mi"}}}]}"#
    )]
    #[case::appends_to_an_existing_list(
        r#"{"terms": [ 1 ]}"#,
        &[(&["terms"][..], None, json!(2)), (&["terms"][..], None, json!(3))][..],
        r#"{"terms": [ 1,2,3 ]}"#
    )]
    #[case::appends_create_the_list(
        r#"{"a":{}}"#,
        &[(&["a", "terms"][..], None, json!({"w": 1}))][..],
        r#"{"a":{"terms":[{"w":1}]}}"#
    )]
    #[case::an_edit_into_what_an_earlier_one_wrote(
        r#"{}"#,
        &[
            (&[][..], Some("a"), json!({"b": 1})),
            (&["a"][..], Some("c"), json!(2)),
            (&["a", "d"][..], None, json!({"x": 3})),
            (&["a", "d", "0"][..], Some("e"), json!(4)),
        ][..],
        r#"{"a":{"b":1,"c":2,"d":[{"x":3,"e":4}]}}"#
    )]
    fn edits_are_spliced_into_the_text(
        #[case] json: &str,
        #[case] edits: &[(&[&str], Option<&str>, Value)],
        #[case] expected: &str,
    ) {
        let edits = edits_of(edits);
        assert_eq!(apply_to_text(json, &edits).unwrap(), expected);
        let mut object: Value = serde_json::from_str(json).unwrap();
        apply_all(&mut object, &edits).unwrap();
        assert_eq!(serde_json::from_str::<Value>(expected).unwrap(), object);
    }

    #[rstest]
    #[case::a_string_where_a_map_is_needed(r#"{"metadata":"x"}"#, &["metadata", "annotations"][..], "metadata", "not an object")]
    #[case::a_list_where_a_map_is_needed(r#"{"metadata":[]}"#, &["metadata", "annotations"][..], "metadata", "not an object")]
    #[case::an_index_past_the_end(r#"{"c":[{}]}"#, &["c", "1"][..], "c/1", "no such list item")]
    #[case::truncated_text(r#"{"c":[{}"#, &["d"][..], "", "not well-formed JSON")]
    fn wrong_shapes_in_the_text_are_errors(
        #[case] json: &str,
        #[case] at: &[&str],
        #[case] error_path: &str,
        #[case] reason: &str,
    ) {
        assert_eq!(
            apply_to_text(json, &[Edit::insert(path(at), "k", "v")]),
            Err(EditError {
                path: error_path.to_string(),
                reason: reason_static(reason),
            })
        );
    }

    fn reason_static(reason: &str) -> &'static str {
        ["not an object", "no such list item", "not well-formed JSON"]
            .into_iter()
            .find(|r| *r == reason)
            .unwrap()
    }

    #[rstest]
    #[case::deep_in_the_text(126, 1, 0, true)]
    #[case::too_deep_in_the_text(127, 1, 0, false)]
    #[case::deep_with_what_is_added(2, 124, 2, true)]
    #[case::too_deep_with_what_is_added(2, 125, 2, false)]
    fn the_answer_stays_readable_by_the_policy_server(
        #[case] levels_in_text: usize,
        #[case] target_level: usize,
        #[case] levels_added: usize,
        #[case] readable: bool,
    ) {
        // A list nesting `levels_in_text` levels with the object, and the
        // edit's target, an object at `target_level`.
        let nested = |open: &str, close: &str, levels: usize, inner: &str| {
            format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
        };
        let json = nested(
            r#"{"a":"#,
            "}",
            target_level - 1,
            &format!(r#"{{"x":{}}}"#, nested("[", "]", levels_in_text - 1, "1")),
        );
        let mut value = json!(1);
        for _ in 0..levels_added {
            value = json!([value]);
        }
        let target = vec!["a".to_string(); target_level - 1];
        let result = apply_to_text(&json, &[Edit::insert(target, "k", value)]);
        assert_eq!(result.is_ok(), readable, "{result:?}");
        if let Ok(text) = result {
            let answer = format!(r#"{{"mutated_object":{text}}}"#);
            assert!(serde_json::from_str::<Value>(&answer).is_ok());
        }
    }

    #[test]
    fn appending_to_a_map_is_an_error() {
        assert_eq!(
            apply_to_text(r#"{"a":{}}"#, &[Edit::append(path(&["a"]), json!(1))])
                .unwrap_err()
                .reason,
            "not a list"
        );
    }

    /// Small JSON documents over a few keys, so edits often hit them.
    fn document() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c\"\\\\]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]|0|1", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let at = prop::collection::vec("[a-c]|0|1", 0..4);
        prop_oneof![
            (at.clone(), "[a-c]", document()).prop_map(|(at, key, value)| Edit::Insert {
                path: at,
                key,
                value: value.into()
            }),
            (at, document()).prop_map(|(at, value)| Edit::Append {
                path: at,
                value: value.into()
            }),
        ]
    }

    proptest! {
        /// The text splice means what the edits mean on the decoded object,
        /// however the text is laid out.
        #[test]
        fn splicing_agrees_with_editing_the_decoded_object(
            object in prop::collection::btree_map("[a-c]|0|1", document(), 0..4),
            edits in prop::collection::vec(edit(), 1..5),
            pretty in any::<bool>(),
        ) {
            let mut object = Value::Object(object.into_iter().collect());
            let json = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                object.to_string()
            };
            let spliced = apply_to_text(&json, &edits);
            match apply_all(&mut object, &edits) {
                Ok(()) => {
                    let spliced = spliced.expect("the splice succeeds where the edit does");
                    prop_assert_eq!(serde_json::from_str::<Value>(&spliced).unwrap(), object);
                }
                Err(_) => prop_assert!(spliced.is_err(), "{:?}", spliced),
            }
        }
    }
}
