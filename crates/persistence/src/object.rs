//! One value in RDB form: a type byte and the serialized value, as inside DUMP payloads and
//! after each key in an RDB file. Writes the encodings Redis 7.0 itself picks; reads every
//! encoding Redis 7.0 can load (plus 7.2's listpack sets).

use slotkv_keyspace::{HashValue, ListValue, SetValue, Value, ZSet};

use crate::codec::*;
use crate::error::{PersistenceError, Result};
use crate::{intset, listpack, ziplist, zipmap};

/// Redis 7.0's defaults for choosing compact encodings.
const HASH_MAX_LISTPACK_ENTRIES: usize = 128;
const HASH_MAX_LISTPACK_VALUE: usize = 64;
const SET_MAX_INTSET_ENTRIES: usize = 512;
const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
const ZSET_MAX_LISTPACK_VALUE: usize = 64;
/// `list-max-listpack-size -2`: nodes of at most 8 KiB.
const LIST_NODE_MAX_BYTES: usize = 8192;
/// Elements this large get a plain (unpacked) quicklist node, as in Redis 7.0.
const LIST_PLAIN_THRESHOLD: usize = 1 << 30;

/// Appends the type byte, then `key` if given (RDB files put the key there), then the
/// serialized value.
pub fn write_value(out: &mut Vec<u8>, key: Option<&[u8]>, value: &Value, compress: bool) {
    let mut w = ValueWriter { out, key, compress };
    match value {
        Value::Str(s) => {
            w.start(TYPE_STRING);
            write_string(w.out, s, compress);
        }
        Value::List(l) => write_list(&mut w, l),
        Value::Set(s) => write_set(&mut w, s),
        Value::Hash(h) => write_hash(&mut w, h),
        Value::ZSet(z) => write_zset(&mut w, z),
    }
}

struct ValueWriter<'a, 'k> {
    out: &'a mut Vec<u8>,
    key: Option<&'k [u8]>,
    compress: bool,
}

impl ValueWriter<'_, '_> {
    fn start(&mut self, ty: u8) {
        self.out.push(ty);
        if let Some(k) = self.key {
            write_string(self.out, k, self.compress);
        }
    }
}

fn write_list(w: &mut ValueWriter<'_, '_>, list: &ListValue) {
    let compress = w.compress;
    w.start(TYPE_LIST_QUICKLIST_2);
    let out = &mut *w.out;
    // Nodes are built first so that their count can be written before them.
    enum Node {
        Plain(usize),
        Packed(Vec<u8>),
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut cur: Option<listpack::ListpackWriter> = None;
    for (i, e) in list.iter().enumerate() {
        if e.len() >= LIST_PLAIN_THRESHOLD {
            if let Some(lp) = cur.take() {
                nodes.push(Node::Packed(lp.finish()));
            }
            nodes.push(Node::Plain(i));
            continue;
        }
        let size = listpack::entry_size(e);
        let full = cur.as_ref().is_some_and(|lp| {
            lp.count() > 0
                && (lp.len_bytes() + size + 1 > LIST_NODE_MAX_BYTES || lp.count() >= usize::from(u16::MAX))
        });
        if full {
            if let Some(lp) = cur.take() {
                nodes.push(Node::Packed(lp.finish()));
            }
        }
        cur.get_or_insert_with(listpack::ListpackWriter::new).push(e);
    }
    if let Some(lp) = cur.take() {
        nodes.push(Node::Packed(lp.finish()));
    }
    write_len(out, nodes.len() as u64);
    for n in nodes {
        match n {
            Node::Plain(i) => {
                write_len(out, QUICKLIST_NODE_PLAIN);
                write_string(out, &list[i], compress);
            }
            Node::Packed(lp) => {
                write_len(out, QUICKLIST_NODE_PACKED);
                write_string(out, &lp, compress);
            }
        }
    }
}

fn write_set(w: &mut ValueWriter<'_, '_>, set: &SetValue) {
    let compress = w.compress;
    if set.len() <= SET_MAX_INTSET_ENTRIES {
        let ints: Option<Vec<i64>> = set.iter().map(|m| slotkv_protocol::parse_i64(m)).collect();
        if let Some(mut ints) = ints {
            w.start(TYPE_SET_INTSET);
            write_string(w.out, &intset::encode(&mut ints), compress);
            return;
        }
    }
    w.start(TYPE_SET);
    write_len(w.out, set.len() as u64);
    for m in set {
        write_string(w.out, m, compress);
    }
}

fn write_hash(w: &mut ValueWriter<'_, '_>, hash: &HashValue) {
    let compress = w.compress;
    let small = hash.len() <= HASH_MAX_LISTPACK_ENTRIES
        && hash
            .iter()
            .all(|(f, v)| f.len() <= HASH_MAX_LISTPACK_VALUE && v.len() <= HASH_MAX_LISTPACK_VALUE);
    if small {
        let mut lp = listpack::ListpackWriter::new();
        for (f, v) in hash {
            lp.push(f);
            lp.push(v);
        }
        w.start(TYPE_HASH_LISTPACK);
        write_string(w.out, &lp.finish(), compress);
        return;
    }
    w.start(TYPE_HASH);
    write_len(w.out, hash.len() as u64);
    for (f, v) in hash {
        write_string(w.out, f, compress);
        write_string(w.out, v, compress);
    }
}

fn write_zset(w: &mut ValueWriter<'_, '_>, z: &ZSet) {
    let compress = w.compress;
    let small =
        z.len() <= ZSET_MAX_LISTPACK_ENTRIES && z.iter().all(|(m, _)| m.len() <= ZSET_MAX_LISTPACK_VALUE);
    if small {
        let mut lp = listpack::ListpackWriter::new();
        for (m, s) in z.iter() {
            lp.push(m);
            lp.push(&score_to_text(s));
        }
        w.start(TYPE_ZSET_LISTPACK);
        write_string(w.out, &lp.finish(), compress);
        return;
    }
    w.start(TYPE_ZSET_2);
    let out = &mut *w.out;
    write_len(out, z.len() as u64);
    // Highest score first, as Redis writes them (so that loading can prepend).
    let all: Vec<(&[u8], f64)> = z.iter().collect();
    for (m, s) in all.into_iter().rev() {
        write_string(out, m, compress);
        write_binary_double(out, s);
    }
}

// ---------------------------------------------------------------------------------------

fn new_hash(n: u64) -> HashValue {
    HashValue::with_capacity_and_hasher((n as usize).min(PREALLOC_CAP), Default::default())
}

fn new_set(n: u64) -> SetValue {
    SetValue::with_capacity_and_hasher((n as usize).min(PREALLOC_CAP), Default::default())
}

/// Reads a string holding an encoded blob and decodes it with `decode`, turning its error
/// into one located at the blob's offset.
fn read_blob<S: Source, T>(
    src: &mut S,
    what: &str,
    decode: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<T> {
    let at = src.offset();
    let blob = read_string(src)?;
    decode(&blob).map_err(|e| PersistenceError::corrupt(at, format!("{what}: {e}")))
}

fn insert_pair(hash: &mut HashValue, f: Vec<u8>, v: Vec<u8>, at: u64) -> Result<()> {
    if hash.insert(f.into_boxed_slice(), v.into_boxed_slice()).is_some() {
        return Err(PersistenceError::corrupt(at, "duplicate hash field"));
    }
    Ok(())
}

fn insert_member(set: &mut SetValue, m: Vec<u8>, at: u64) -> Result<()> {
    if !set.insert(m.into_boxed_slice()) {
        return Err(PersistenceError::corrupt(at, "duplicate set member"));
    }
    Ok(())
}

fn insert_scored(z: &mut ZSet, m: &[u8], score: f64, at: u64) -> Result<()> {
    if score.is_nan() {
        return Err(PersistenceError::corrupt(at, "NaN score"));
    }
    if !z.insert(m, score) {
        return Err(PersistenceError::corrupt(at, "duplicate sorted set member"));
    }
    Ok(())
}

fn hash_from_flat(items: Vec<Vec<u8>>, at: u64) -> Result<HashValue> {
    if items.len() % 2 != 0 {
        return Err(PersistenceError::corrupt(at, "odd number of hash entries"));
    }
    let mut hash = new_hash(items.len() as u64 / 2);
    let mut it = items.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        insert_pair(&mut hash, f, v, at)?;
    }
    Ok(hash)
}

fn zset_from_flat(items: Vec<Vec<u8>>, at: u64) -> Result<ZSet> {
    if items.len() % 2 != 0 {
        return Err(PersistenceError::corrupt(at, "odd number of sorted set entries"));
    }
    let mut z = ZSet::new();
    for pair in items.chunks_exact(2) {
        let score = text_to_score(&pair[1]).ok_or_else(|| PersistenceError::corrupt(at, "bad score"))?;
        insert_scored(&mut z, &pair[0], score, at)?;
    }
    Ok(z)
}

fn set_from_items(items: Vec<Vec<u8>>, at: u64) -> Result<SetValue> {
    let mut set = new_set(items.len() as u64);
    for m in items {
        insert_member(&mut set, m, at)?;
    }
    Ok(set)
}

/// Reads the value of type `ty` (the type byte already consumed). `EmptyValue` is returned
/// only after the whole value has been consumed, so a file reader can skip it and go on.
pub fn read_value<S: Source>(src: &mut S, ty: u8) -> Result<Value> {
    let start = src.offset();
    let value = match ty {
        TYPE_STRING => return Ok(Value::Str(read_string(src)?)),
        TYPE_LIST => {
            let n = read_len(src)?;
            let mut list = ListValue::with_capacity((n as usize).min(PREALLOC_CAP));
            for _ in 0..n {
                list.push_back(read_string(src)?.into_boxed_slice());
            }
            Value::List(Box::new(list))
        }
        TYPE_SET => {
            let n = read_len(src)?;
            let mut set = new_set(n);
            for _ in 0..n {
                let at = src.offset();
                let m = read_string(src)?;
                insert_member(&mut set, m, at)?;
            }
            Value::Set(Box::new(set))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = read_len(src)?;
            let mut z = ZSet::new();
            for _ in 0..n {
                let at = src.offset();
                let m = read_string(src)?;
                let score = if ty == TYPE_ZSET {
                    read_text_double(src)?
                } else {
                    read_binary_double(src)?
                };
                insert_scored(&mut z, &m, score, at)?;
            }
            Value::ZSet(Box::new(z))
        }
        TYPE_HASH => {
            let n = read_len(src)?;
            let mut hash = new_hash(n);
            for _ in 0..n {
                let at = src.offset();
                let f = read_string(src)?;
                let v = read_string(src)?;
                insert_pair(&mut hash, f, v, at)?;
            }
            Value::Hash(Box::new(hash))
        }
        TYPE_HASH_ZIPMAP => {
            let at = src.offset();
            let pairs = read_blob(src, "zipmap", zipmap::decode)?;
            let mut hash = new_hash(pairs.len() as u64);
            for (f, v) in pairs {
                insert_pair(&mut hash, f, v, at)?;
            }
            Value::Hash(Box::new(hash))
        }
        TYPE_LIST_ZIPLIST => {
            let items = read_blob(src, "ziplist", ziplist::decode)?;
            Value::List(Box::new(items.into_iter().map(Vec::into_boxed_slice).collect()))
        }
        TYPE_SET_INTSET | TYPE_SET_LISTPACK => {
            let at = src.offset();
            let items = if ty == TYPE_SET_INTSET {
                read_blob(src, "intset", intset::decode)?
            } else {
                read_blob(src, "listpack", listpack::decode)?
            };
            Value::Set(Box::new(set_from_items(items, at)?))
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let at = src.offset();
            let items = if ty == TYPE_ZSET_ZIPLIST {
                read_blob(src, "ziplist", ziplist::decode)?
            } else {
                read_blob(src, "listpack", listpack::decode)?
            };
            Value::ZSet(Box::new(zset_from_flat(items, at)?))
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let at = src.offset();
            let items = if ty == TYPE_HASH_ZIPLIST {
                read_blob(src, "ziplist", ziplist::decode)?
            } else {
                read_blob(src, "listpack", listpack::decode)?
            };
            Value::Hash(Box::new(hash_from_flat(items, at)?))
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = read_len(src)?;
            let mut list = ListValue::new();
            for _ in 0..nodes {
                let container = if ty == TYPE_LIST_QUICKLIST_2 {
                    let at = src.offset();
                    let c = read_len(src)?;
                    if c != QUICKLIST_NODE_PLAIN && c != QUICKLIST_NODE_PACKED {
                        return Err(PersistenceError::corrupt(
                            at,
                            format!("quicklist node container {c}"),
                        ));
                    }
                    c
                } else {
                    QUICKLIST_NODE_PACKED
                };
                if container == QUICKLIST_NODE_PLAIN {
                    list.push_back(read_string(src)?.into_boxed_slice());
                    continue;
                }
                let items = if ty == TYPE_LIST_QUICKLIST {
                    read_blob(src, "ziplist", ziplist::decode)?
                } else {
                    read_blob(src, "listpack", listpack::decode)?
                };
                // Empty nodes are legal here; Redis drops them on load.
                list.extend(items.into_iter().map(Vec::into_boxed_slice));
            }
            Value::List(Box::new(list))
        }
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => {
            return Err(PersistenceError::Unsupported {
                offset: start.saturating_sub(1),
                what: "module data type".into(),
            })
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
            return Err(PersistenceError::Unsupported {
                offset: start.saturating_sub(1),
                what: "stream value".into(),
            })
        }
        other => {
            return Err(PersistenceError::corrupt(
                start.saturating_sub(1),
                format!("unknown value type {other}"),
            ))
        }
    };
    if value.is_empty_collection() {
        return Err(PersistenceError::EmptyValue { offset: start });
    }
    Ok(value)
}
