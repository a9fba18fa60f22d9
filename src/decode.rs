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
//! Settings ([`json_object!`]`(strict ...)`): a small serde visitor per
//! section that refuses a misspelt key by name.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::objects::{IntOrString, Members, StringMap};
use crate::quantity::RawQuantity;

/// A member whose `null` reads as its default, as an absent one does.
pub(crate) struct Nullable<T>(pub T);

impl<'de, T: Default + Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(
            Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

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

/// A value that is one of a fixed set of names (settings enums), refused
/// with serde's usual "unknown variant" message naming the others.
pub(crate) fn name_of<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    names: &'static [(&'static str, T)],
    expected: &'static [&'static str],
) -> Result<T, D::Error> {
    let Key(name) = Key::deserialize(deserializer)?;
    names
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, value)| *value)
        .ok_or_else(|| D::Error::unknown_variant(&name, expected))
}

/// A Kubernetes object as the decoder sees it: the members it reads.
pub(crate) trait ObjectFields<'de> {
    /// Where the value of member `key` goes; `None` skips the member.
    fn field(&mut self, key: &str) -> Option<FieldSlot<'_, 'de>>;
    /// Back to the defaults, before a repeated key is read again.
    fn reset(&mut self);
    /// The struct's name, for "expected a PodSpec object".
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
}

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
        write!(f, "a {} object", self.0.name())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            match self.0.field(&key) {
                Some(slot) => map.next_value_seed(SlotSeed(slot))?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads one member's value into its slot.
struct SlotSeed<'a, 'de>(FieldSlot<'a, 'de>);

impl<'de> DeserializeSeed<'de> for SlotSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0 {
            FieldSlot::Text(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::OptionalText(value) => *value = Option::deserialize(deserializer)?,
            FieldSlot::Flag(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::OptionalFlag(value) => *value = Option::deserialize(deserializer)?,
            FieldSlot::Integer(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::OptionalInteger(value) => *value = Option::deserialize(deserializer)?,
            FieldSlot::Texts(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::Labels(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::Quantities(value) => *value = Nullable::deserialize(deserializer)?.0,
            FieldSlot::Count(value) => *value = Option::deserialize(deserializer)?,
            FieldSlot::Raw(value) => *value = Option::deserialize(deserializer)?,
            FieldSlot::Object(fields) => {
                fields.reset();
                deserializer.deserialize_option(UnlessNull(ObjectSeed(fields)))?;
            }
            FieldSlot::OptionalObject(option) => {
                option.clear();
                deserializer.deserialize_option(UnlessNull(FillSeed(option)))?;
            }
            FieldSlot::Objects(list) => {
                list.clear();
                deserializer.deserialize_option(UnlessNull(ListSeed(list)))?;
            }
        }
        Ok(())
    }
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

/// The visitor [`json_object!`] builds for a struct.
pub(crate) struct ObjectVisitor<T>(pub PhantomData<T>);

/// Builds the decoding of a struct with `Default` from a table of
/// `"jsonKey" => field` rows. `lenient` (Kubernetes objects): an
/// [`ObjectFields`] impl (other members skipped, `null` read as absent) and
/// a `Deserialize` through it. `strict` (settings): a serde visitor that
/// refuses other members by name and reads values as they are. Either way
/// only a JSON object is accepted, never a list of the fields.
macro_rules! json_object {
    (lenient $name:ident $(<$lt:lifetime>)? { $($key:literal => $field:ident),* $(,)? }) => {
        impl<'de> $crate::decode::ObjectFields<'de> for $name $(<$lt>)? {
            fn field(&mut self, key: &str) -> Option<$crate::decode::FieldSlot<'_, 'de>> {
                match key {
                    $($key => Some($crate::decode::AsSlot::slot(&mut self.$field)),)*
                    _ => None,
                }
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
    (strict $name:ident { $($key:literal => $field:ident),* $(,)? }) => {
        impl<'de> serde::de::Visitor<'de> for $crate::decode::ObjectVisitor<$name> {
            type Value = $name;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of settings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut object = <$name>::default();
                while let Some($crate::decode::Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        $($key => object.$field = map.next_value()?,)*
                        _ => return Err(serde::de::Error::unknown_field(&key, &[$($key),*])),
                    }
                }
                Ok(object)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map($crate::decode::ObjectVisitor::<Self>(std::marker::PhantomData))
            }
        }
    };
}
pub(crate) use json_object;
