//! The JSON values the decoder reads into that are not objects of their
//! own: a map kept in document order, and Kubernetes' int-or-string.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};

/// A JSON object's members in document order: labels, annotations,
/// `matchLabels`, resource lists. Kept as a list rather than a tree map: the
/// rules look up a handful of keys, and a list costs the module no map code.
/// Of duplicate keys the last one counts, as with any JSON decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Members<V>(Vec<(String, V)>);

pub type StringMap = Members<String>;

impl<V> Default for Members<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Members<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every member as written, repeated keys included.
    pub fn as_slice(&self) -> &[(String, V)] {
        &self.0
    }

    /// Sets `key`, replacing the value it had.
    pub fn insert(&mut self, key: String, value: V) {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, value));
    }

    /// The members that count: a key's last occurrence, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0
            .iter()
            .enumerate()
            .filter(|(index, (key, _))| !self.0[index + 1..].iter().any(|(k, _)| k == key))
            .map(|(_, (key, value))| (key, value))
    }
}

impl<V> FromIterator<(String, V)> for Members<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(members: I) -> Self {
        let mut map = Self::new();
        for (key, value) in members {
            map.insert(key, value);
        }
        map
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Members<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MembersVisitor<V> {
            type Value = Members<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<V>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor(PhantomData))
    }
}

/// `intOrString` fields such as `maxUnavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntOrStringVisitor;
        impl Visitor<'_> for IntOrStringVisitor {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: Error>(self, count: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(count))
            }
            fn visit_u64<E: Error>(self, count: u64) -> Result<IntOrString, E> {
                i64::try_from(count)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(count), &self))
            }
            fn visit_str<E: Error>(self, text: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(text.to_string()))
            }
        }
        deserializer.deserialize_any(IntOrStringVisitor)
    }
}

impl IntOrString {
    /// Resolves a count or a percentage against `total`, rounding as the
    /// disruption controller does (up for minAvailable and maxUnavailable).
    pub fn resolve(&self, total: u32) -> Option<i64> {
        self.scaled(total, 99)
    }

    /// Resolves a count or a percentage against `total`, rounding down as
    /// the Deployment controller does for `maxUnavailable`.
    pub fn resolve_down(&self, total: u32) -> Option<i64> {
        self.scaled(total, 0)
    }

    fn scaled(&self, total: u32, round: i64) -> Option<i64> {
        match self {
            Self::Int(count) => Some(*count),
            Self::String(text) => {
                let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
                Some(percent.checked_mul(i64::from(total))?.checked_add(round)? / 100)
            }
        }
    }

    /// A percentage of 100 or more: every pod, however many there are.
    pub fn is_whole(&self) -> bool {
        matches!(self, Self::String(text) if text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()).is_some_and(|p| p >= 100))
    }
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(count) => write!(f, "{count}"),
            Self::String(text) => write!(f, "{text:?}"),
        }
    }
}
