//! Redis value types as held in memory.

use std::collections::VecDeque;

use indexmap::{IndexMap, IndexSet};

use crate::{EncodingLimits, ZSet};

/// A key. Boxed slice: 16 bytes inline, exactly the key's bytes on the heap.
pub type Key = Box<[u8]>;
/// An element of a collection (list item, hash field or value, set member, zset member).
pub type Elem = Box<[u8]>;

pub type ListValue = VecDeque<Elem>;
pub type HashValue = IndexMap<Elem, Elem, ahash::RandomState>;
pub type SetValue = IndexSet<Elem, ahash::RandomState>;

/// A value stored under a key. Collections are boxed so that the enum (and so every slot of
/// the main table) stays small.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSet>),
}

/// The type names TYPE and SCAN TYPE use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"hash" => ValueType::Hash,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            _ => return None,
        })
    }
}

impl Value {
    pub fn new_list() -> Value {
        Value::List(Box::default())
    }
    pub fn new_hash() -> Value {
        Value::Hash(Box::default())
    }
    pub fn new_set() -> Value {
        Value::Set(Box::default())
    }
    pub fn new_zset() -> Value {
        Value::ZSet(Box::default())
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    /// True for a collection with no elements (Redis deletes such keys).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }

    /// The encoding name Redis 7.0 would report for this value (OBJECT ENCODING).
    pub fn encoding(&self, limits: &EncodingLimits) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && slotkv_protocol::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(_) => "quicklist",
            Value::Hash(h) => {
                if h.len() <= limits.hash_max_listpack_entries
                    && h.iter().all(|(f, v)| {
                        f.len() <= limits.hash_max_listpack_value && v.len() <= limits.hash_max_listpack_value
                    })
                {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::Set(s) => {
                if s.len() <= limits.set_max_intset_entries
                    && s.iter().all(|m| slotkv_protocol::parse_i64(m).is_some())
                {
                    "intset"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if z.len() <= limits.zset_max_listpack_entries
                    && z.iter().all(|(m, _)| m.len() <= limits.zset_max_listpack_value)
                {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
        }
    }

    /// Approximate bytes used, for MEMORY USAGE (not byte-exact with Redis's allocator).
    pub fn memory_usage(&self, samples: usize) -> usize {
        const ALLOC: usize = 16;
        let sample = |n: usize, sampled: usize, bytes: usize| (bytes * n).checked_div(sampled).unwrap_or(0);
        match self {
            Value::Str(s) => s.capacity() + ALLOC,
            Value::List(l) => {
                let k = l.len().min(samples.max(1));
                64 + sample(l.len(), k, l.iter().take(k).map(|e| e.len() + ALLOC).sum())
            }
            Value::Hash(h) => {
                let k = h.len().min(samples.max(1));
                64 + sample(
                    h.len(),
                    k,
                    h.iter()
                        .take(k)
                        .map(|(f, v)| f.len() + v.len() + 2 * ALLOC + 16)
                        .sum(),
                )
            }
            Value::Set(s) => {
                let k = s.len().min(samples.max(1));
                64 + sample(s.len(), k, s.iter().take(k).map(|m| m.len() + ALLOC + 16).sum())
            }
            Value::ZSet(z) => {
                let k = z.len().min(samples.max(1));
                64 + sample(
                    z.len(),
                    k,
                    z.iter().take(k).map(|(m, _)| 2 * (m.len() + ALLOC) + 32).sum(),
                )
            }
        }
    }
}
