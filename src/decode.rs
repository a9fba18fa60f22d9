//! How the module reads JSON into its structs. Each struct names the members
//! it reads in a [`json_object!`] table, which builds one small serde
//! visitor for it: members are read in document order, the rest skipped
//! without being decoded. serde's derive builds far more per struct (a
//! visitor for lists of fields, duplicate checks, a wrapper type per field
//! with its own deserializer), which is most of a WebAssembly module this
//! size; here a member's code is shared by every member of its type.
//!
//! Two readings: a Kubernetes object's members are optional and `null`
//! reads as absent (the API server writes both); settings are strict, so a
//! misspelt key is refused by name.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, Visitor};
use serde::{Deserialize, Deserializer};

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

/// The visitor [`json_object!`] builds for a struct.
pub(crate) struct ObjectVisitor<T>(pub PhantomData<T>);

/// Builds `Deserialize` for a struct with `Default` from a table of
/// `"jsonKey" => field` rows. `lenient` (Kubernetes objects): other members
/// are skipped and `null` reads as the default. `strict` (settings): other
/// members are refused by name, and values are read as they are. Only a
/// JSON object is accepted, never a list of the fields.
macro_rules! json_object {
    ($mode:ident $name:ident $(<$lt:lifetime>)? { $($key:literal => $field:ident),* $(,)? }) => {
        impl<'de> serde::de::Visitor<'de> for $crate::decode::ObjectVisitor<$name $(<$lt>)?> {
            type Value = $name $(<$lt>)?;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::decode::json_object!(@expecting $mode $name))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut object = <$name $(<$lt>)?>::default();
                while let Some($crate::decode::Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        $($key => object.$field = $crate::decode::json_object!(@value $mode map),)*
                        _ => $crate::decode::json_object!(@other $mode map key [$($key),*]),
                    }
                }
                Ok(object)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name $(<$lt>)? {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map($crate::decode::ObjectVisitor::<Self>(std::marker::PhantomData))
            }
        }
    };
    (@expecting lenient $name:ident) => { concat!("a ", stringify!($name), " object") };
    (@expecting strict $name:ident) => { "a map of settings" };
    (@value lenient $map:ident) => {
        $map.next_value::<$crate::decode::Nullable<_>>()?.0
    };
    (@value strict $map:ident) => {
        $map.next_value()?
    };
    (@other lenient $map:ident $key:ident [$($known:literal),*]) => {{
        $map.next_value::<serde::de::IgnoredAny>()?;
    }};
    (@other strict $map:ident $key:ident [$($known:literal),*]) => {
        return Err(serde::de::Error::unknown_field(&$key, &[$($known),*]))
    };
}
pub(crate) use json_object;
