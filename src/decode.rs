//! How the module reads JSON into its structs, with little code per struct.
//! serde's derive builds a visitor per struct and, inlined into serde_json,
//! a copy of the parser's object and list handling for each; in a
//! WebAssembly module that was most of the size.
//!
//! Kubernetes objects ([`json_object!`]`(lenient ...)`): each struct lists
//! the members it reads, and hands out a [`FieldSlot`] for a key: where the
//! value goes, by kind (text, flag, labels, a nested object, a list of
//! objects...). One visitor reads every object through [`ObjectFields`],
//! so serde_json's object and list code is there once for all of them.
//! Other members are skipped without being decoded; `null` reads as absent
//! (the API server writes both); a repeated key counts its last time.
//!
//! Settings ([`json_object!`]`(strict ...)`) go the same way, except that a
//! key the section does not know is refused by name (a misspelt rule must
//! not silently fall back to its default), and so is a `null`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::finding::Action;
use crate::json_value::{IntOrString, Members, StringMap};
use crate::quantity::{Quantity, RawQuantity};

/// A member's key: borrowed from the document unless it holds escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E: Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON object as the decoder sees it: the members it reads.
pub(crate) trait ObjectFields<'de> {
    /// Where the value of member `key` goes; `None` skips the member, or
    /// refuses it where [`ObjectFields::known`] lists the keys.
    fn field(&mut self, key: &str) -> Option<FieldSlot<'_, 'de>>;
    /// Settings sections: every key they take, for the message refusing
    /// another. `None` (Kubernetes objects): other keys are skipped.
    fn known(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// Back to the defaults, before a repeated key is read again.
    fn reset(&mut self);
    /// The struct's name, for "expected an object (PodSpec)".
    fn name(&self) -> &'static str;
}

/// Where a member's value goes, by what it holds.
pub(crate) enum FieldSlot<'a, 'de> {
    Text(&'a mut String),
    OptionalText(&'a mut Option<String>),
    Flag(&'a mut bool),
    OptionalFlag(&'a mut Option<bool>),
    Integer(&'a mut i64),
    OptionalInteger(&'a mut Option<i64>),
    Texts(&'a mut Vec<String>),
    Labels(&'a mut StringMap),
    Quantities(&'a mut Members<RawQuantity>),
    Count(&'a mut Option<IntOrString>),
    /// Kept as the request's own text (the object, for mutation).
    Raw(&'a mut Option<&'de RawValue>),
    Object(&'a mut dyn ObjectFields<'de>),
    OptionalObject(&'a mut dyn OptionalObject<'de>),
    Objects(&'a mut dyn ObjectList<'de>),
    // What only settings hold.
    Action(&'a mut Action),
    Quantity(&'a mut Quantity),
    U32(&'a mut u32),
    OptionalU32(&'a mut Option<u32>),
    U64(&'a mut u64),
    Choice(&'a mut dyn Choice),
}

/// A settings value that is one of a few names (an enum).
pub(crate) trait Choice {
    /// Takes the value named `name`; `false` if there is none.
    fn choose(&mut self, name: &str) -> bool;
    fn names(&self) -> &'static [&'static str];
}

/// [`Choice`] and its slot for an enum, from `"name" => Variant` rows.
macro_rules! json_choice {
    ($name:ident { $($key:literal => $variant:ident),* $(,)? }) => {
        impl $crate::decode::Choice for $name {
            fn choose(&mut self, name: &str) -> bool {
                match name {
                    $($key => *self = Self::$variant,)*
                    _ => return false,
                }
                true
            }
            fn names(&self) -> &'static [&'static str] {
                &[$($key),*]
            }
        }

        impl<'de> $crate::decode::AsSlot<'de> for $name {
            fn slot(&mut self) -> $crate::decode::FieldSlot<'_, 'de> {
                $crate::decode::FieldSlot::Choice(self)
            }
        }
    };
}
pub(crate) use json_choice;

/// An `Option` of an object: `null` or absent is `None`.
pub(crate) trait OptionalObject<'de> {
    fn clear(&mut self);
    fn fill(&mut self) -> &mut dyn ObjectFields<'de>;
}

/// A list of objects.
pub(crate) trait ObjectList<'de> {
    fn clear(&mut self);
    fn push_new(&mut self) -> &mut dyn ObjectFields<'de>;
}

impl<'de, T: ObjectFields<'de> + Default> OptionalObject<'de> for Option<T> {
    fn clear(&mut self) {
        *self = None;
    }
    fn fill(&mut self) -> &mut dyn ObjectFields<'de> {
        self.insert(T::default())
    }
}

impl<'de, T: ObjectFields<'de> + Default> ObjectList<'de> for Vec<T> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn push_new(&mut self) -> &mut dyn ObjectFields<'de> {
        let index = self.len();
        self.push(T::default());
        &mut self[index]
    }
}

/// The slot kind of a field's type, which [`json_object!`] asks for.
pub(crate) trait AsSlot<'de> {
    fn slot(&mut self) -> FieldSlot<'_, 'de>;
}

macro_rules! slot_kinds {
    ($($type:ty => $kind:ident),* $(,)?) => {
        $(impl<'de> AsSlot<'de> for $type {
            fn slot(&mut self) -> FieldSlot<'_, 'de> {
                FieldSlot::$kind(self)
            }
        })*
    };
}

slot_kinds! {
    String => Text,
    Option<String> => OptionalText,
    bool => Flag,
    Option<bool> => OptionalFlag,
    i64 => Integer,
    Option<i64> => OptionalInteger,
    Vec<String> => Texts,
    StringMap => Labels,
    Members<RawQuantity> => Quantities,
    Option<IntOrString> => Count,
    Option<&'de RawValue> => Raw,
    Action => Action,
    Quantity => Quantity,
    u32 => U32,
    Option<u32> => OptionalU32,
    u64 => U64,
}

impl<'de, T: ObjectFields<'de>> AsSlot<'de> for T {
    fn slot(&mut self) -> FieldSlot<'_, 'de> {
        FieldSlot::Object(self)
    }
}

impl<'de, T: ObjectFields<'de> + Default> AsSlot<'de> for Option<T> {
    fn slot(&mut self) -> FieldSlot<'_, 'de> {
        FieldSlot::OptionalObject(self)
    }
}

impl<'de, T: ObjectFields<'de> + Default> AsSlot<'de> for Vec<T> {
    fn slot(&mut self) -> FieldSlot<'_, 'de> {
        FieldSlot::Objects(self)
    }
}

/// Decodes a whole document into `T`.
pub(crate) fn decode_object<'de, T: ObjectFields<'de> + Default>(
    json: &'de str,
) -> Result<T, serde_json::Error> {
    // Not through `deserialize_object`: the module comes out 1 KB larger.
    let mut object = T::default();
    let mut deserializer = serde_json::Deserializer::from_str(json);
    ObjectSeed(&mut object).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(object)
}

/// `Deserialize` for an [`ObjectFields`] struct, for callers that hold a
/// deserializer (the tests, the harness).
pub(crate) fn deserialize_object<'de, D: Deserializer<'de>, T: ObjectFields<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    let mut object = T::default();
    ObjectSeed(&mut object).deserialize(deserializer)?;
    Ok(object)
}

/// Reads a JSON object into its struct, member by member.
struct ObjectSeed<'a, 'de>(&'a mut dyn ObjectFields<'de>);

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.known() {
            Some(_) => f.write_str("a map of settings"),
            None => write!(f, "an object ({})", self.0.name()),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let known = self.0.known();
        let strict = known.is_some();
        while let Some(Key(key)) = map.next_key()? {
            match self.0.field(&key) {
                Some(slot) => map.next_value_seed(SlotSeed { slot, strict })?,
                None => match known {
                    Some(known) => return Err(A::Error::unknown_field(&key, known)),
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(())
    }
}

/// Reads one member's value into its slot. `strict` (settings): the value
/// must have the slot's type, `null` included; otherwise `null` reads as
/// absent.
struct SlotSeed<'a, 'de> {
    slot: FieldSlot<'a, 'de>,
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for SlotSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let (d, strict) = (deserializer, self.strict);
        match self.slot {
            FieldSlot::Text(value) => read(value, d, strict),
            FieldSlot::OptionalText(value) => read(value, d, strict),
            FieldSlot::Flag(value) => read(value, d, strict),
            FieldSlot::OptionalFlag(value) => read(value, d, strict),
            FieldSlot::Integer(value) => read(value, d, strict),
            FieldSlot::OptionalInteger(value) => read(value, d, strict),
            FieldSlot::Texts(value) => read(value, d, strict),
            FieldSlot::Labels(value) => read(value, d, strict),
            FieldSlot::Quantities(value) => read(value, d, strict),
            FieldSlot::Count(value) => read(value, d, strict),
            FieldSlot::Raw(value) => read(value, d, strict),
            // Only settings hold these.
            FieldSlot::Action(value) => read(value, d, true),
            FieldSlot::Quantity(value) => read(value, d, true),
            FieldSlot::U32(value) => read(value, d, true),
            FieldSlot::OptionalU32(value) => read(value, d, true),
            FieldSlot::U64(value) => read(value, d, true),
            FieldSlot::Choice(choice) => {
                let Key(name) = Key::deserialize(d)?;
                if choice.choose(&name) {
                    Ok(())
                } else {
                    Err(D::Error::unknown_variant(&name, choice.names()))
                }
            }
            FieldSlot::Object(fields) => {
                fields.reset();
                if strict {
                    ObjectSeed(fields).deserialize(d)
                } else {
                    d.deserialize_option(UnlessNull(ObjectSeed(fields)))
                }
            }
            FieldSlot::OptionalObject(option) => {
                option.clear();
                d.deserialize_option(UnlessNull(FillSeed(option)))
            }
            FieldSlot::Objects(list) => {
                list.clear();
                d.deserialize_option(UnlessNull(ListSeed(list)))
            }
        }
    }
}

/// Reads `slot`'s value; unless `strict`, `null` leaves it as it is (an
/// absent member).
fn read<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    slot: &mut T,
    deserializer: D,
    strict: bool,
) -> Result<(), D::Error> {
    if strict {
        *slot = T::deserialize(deserializer)?;
    } else if let Some(value) = Option::<T>::deserialize(deserializer)? {
        *slot = value;
    }
    Ok(())
}

/// Reads a value with `S` unless it is `null`, which leaves the default.
struct UnlessNull<S>(S);

impl<'de, S: DeserializeSeed<'de, Value = ()> + Expecting> Visitor<'de> for UnlessNull<S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.deserialize(deserializer)
    }
}

/// What a seed reads, for error messages.
trait Expecting {
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl Expecting for ObjectSeed<'_, '_> {
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Visitor::expecting(self, f)
    }
}

/// Fills an `Option` of an object.
struct FillSeed<'a, 'de>(&'a mut dyn OptionalObject<'de>);

impl<'de> DeserializeSeed<'de> for FillSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        ObjectSeed(self.0.fill()).deserialize(deserializer)
    }
}

impl Expecting for FillSeed<'_, '_> {
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
}

/// Reads a list of objects.
struct ListSeed<'a, 'de>(&'a mut dyn ObjectList<'de>);

impl<'de> DeserializeSeed<'de> for ListSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl Expecting for ListSeed<'_, '_> {
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Expecting::expecting(self, f)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(ItemSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// Reads one item of a list of objects into a new element.
struct ItemSeed<'a, 'de>(&'a mut dyn ObjectList<'de>);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        ObjectSeed(self.0.push_new()).deserialize(deserializer)
    }
}

/// Builds the decoding of a struct with `Default` from a table of
/// `"jsonKey" => field` rows: an [`ObjectFields`] impl and a `Deserialize`
/// through it. `lenient` (Kubernetes objects) skips other members;
/// `strict` (settings) refuses them by name, and refuses `null` values.
/// Either way only a JSON object is accepted, never a list of the fields.
macro_rules! json_object {
    ($mode:ident $name:ident $(<$lt:lifetime>)? { $($key:literal => $field:ident),* $(,)? }) => {
        impl<'de> $crate::decode::ObjectFields<'de> for $name $(<$lt>)? {
            fn field(&mut self, key: &str) -> Option<$crate::decode::FieldSlot<'_, 'de>> {
                match key {
                    $($key => Some($crate::decode::AsSlot::slot(&mut self.$field)),)*
                    _ => None,
                }
            }
            fn known(&self) -> Option<&'static [&'static str]> {
                $crate::decode::json_object!(@known $mode [$($key),*])
            }
            fn reset(&mut self) {
                *self = Self::default();
            }
            fn name(&self) -> &'static str {
                stringify!($name)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name $(<$lt>)? {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::decode::deserialize_object(deserializer)
            }
        }
    };
    (@known lenient [$($key:literal),*]) => { None };
    (@known strict [$($key:literal),*]) => { Some(&[$($key),*]) };
}
pub(crate) use json_object;

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{decode_object, ObjectFields};
    use crate::json_value::StringMap;
    use crate::objects::{ObjectMeta, PodSpec};
    use crate::settings::{ControlPlaneSettings, ResourceContainers, Settings};

    #[rstest]
    #[case::absent("{}", "", 0)]
    #[case::null_is_absent(r#"{"name": null, "labels": null}"#, "", 0)]
    #[case::other_members_skipped(
        r#"{"name": "web", "uid": [1, {"a": null}], "labels": {"a": "b"}}"#,
        "web",
        1
    )]
    #[case::repeated_key_counts_last(
        r#"{"name": "a", "labels": {"x": "1", "y": "2"}, "name": "b", "labels": {"z": "3"}}"#,
        "b",
        1
    )]
    #[case::escaped_key(r#"{"n\u0061me": "web"}"#, "web", 0)]
    fn objects_read_the_members_they_name(
        #[case] json: &str,
        #[case] name: &str,
        #[case] labels: usize,
    ) {
        let meta: ObjectMeta = decode_object(json).unwrap();
        assert_eq!(meta.name, name);
        assert_eq!(meta.labels.iter().count(), labels);
    }

    #[test]
    fn lists_of_objects_are_read_item_by_item() {
        let spec: PodSpec = decode_object(
            r#"{"containers": [{"name": "a", "resources": null}, {"name": "b", "args": ["x"]}],
                "containers": [{"name": "c"}], "initContainers": null}"#,
        )
        .unwrap();
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c"], "a repeated list replaces the first");
        assert!(spec.init_containers.is_empty());
    }

    #[rstest]
    #[case::list_for_object(
        r#"{"affinity": []}"#,
        "invalid type: sequence, expected an object (Affinity)"
    )]
    #[case::object_for_list(r#"{"containers": {}}"#, "invalid type: map, expected a sequence")]
    #[case::string_for_object_in_list(
        r#"{"containers": ["web"]}"#,
        "invalid type: string \"web\", expected an object (Container)"
    )]
    #[case::number_for_text(
        r#"{"containers": [{"name": 1}]}"#,
        "invalid type: integer `1`, expected a string"
    )]
    #[case::text_for_flag(
        r#"{"hostNetwork": "yes"}"#,
        "invalid type: string \"yes\", expected a boolean"
    )]
    #[case::not_json(r#"{"containers": [}"#, "expected value")]
    fn wrong_shapes_are_refused(#[case] json: &str, #[case] message: &str) {
        assert_refused::<PodSpec>(json, message);
    }

    /// `json` does not decode as `T`, with a message starting with `message`.
    fn assert_refused<T: for<'de> ObjectFields<'de> + Default>(json: &str, message: &str) {
        let Err(error) = decode_object::<T>(json) else {
            panic!("{json} decoded");
        };
        let error = error.to_string();
        assert!(error.starts_with(message), "{error}");
    }

    #[test]
    fn a_document_must_be_an_object() {
        assert_refused::<ObjectMeta>(
            "[]",
            "invalid type: sequence, expected an object (ObjectMeta)",
        );
    }

    #[rstest]
    #[case::unknown_key(
        r#"{"namespase": "linkerd"}"#,
        "unknown field `namespase`, expected one of `namespace`, `components`"
    )]
    #[case::unknown_choice(
        r#"{"resourceContainers": "every"}"#,
        "unknown variant `every`, expected `main` or `all`"
    )]
    #[case::list_for_section(
        r#"{"requests": []}"#,
        "invalid type: sequence, expected a map of settings"
    )]
    #[case::negative_count(r#"{"replicas": -1}"#, "invalid value: integer `-1`, expected u32")]
    fn settings_refuse_what_they_do_not_know(#[case] json: &str, #[case] message: &str) {
        assert_refused::<ControlPlaneSettings>(json, message);
    }

    #[rstest]
    #[case::section(r#"{"rules": null}"#, "invalid type: null, expected a map of settings")]
    #[case::text(
        r#"{"controlPlane": {"namespace": null}}"#,
        "invalid type: null, expected a string"
    )]
    #[case::count(
        r#"{"controlPlane": {"replicas": null}}"#,
        "invalid type: null, expected u32"
    )]
    #[case::choice(
        r#"{"controlPlane": {"resourceContainers": null}}"#,
        "invalid type: null"
    )]
    #[case::action(
        r#"{"rules": {"safeToEvict": null}}"#,
        "invalid type: null, expected an action"
    )]
    fn settings_refuse_null(#[case] json: &str, #[case] message: &str) {
        assert_refused::<Settings>(json, message);
    }

    #[test]
    fn unset_minimum_replicas_may_be_null() {
        let settings: Settings = decode_object(
            r#"{"controlPlane": {"minReplicas": null, "resourceContainers": "all"}}"#,
        )
        .unwrap();
        assert_eq!(settings.control_plane.min_replicas_setting, None);
        assert_eq!(
            settings.control_plane.resource_containers,
            ResourceContainers::All
        );
    }

    #[test]
    fn member_maps_take_a_repeated_key_last() {
        let mut labels: StringMap =
            serde_json::from_str(r#"{"a": "1", "b": "2", "a": "3"}"#).unwrap();
        assert_eq!(labels.get("a").map(String::as_str), Some("3"));
        let effective: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(effective, [("b", "2"), ("a", "3")]);
        labels.insert("b".to_string(), "4".to_string());
        assert_eq!(labels.get("b").map(String::as_str), Some("4"));
        assert!(labels.contains_key("a") && !labels.contains_key("c"));
    }
}
