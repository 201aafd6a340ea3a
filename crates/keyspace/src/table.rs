//! The table behind a database's keys: an insertion-ordered map from key bytes to a value,
//! laid out for memory.
//!
//! Entries live in one `Vec` of [`Slot`]s, in insertion order with swap-remove (the order
//! SCAN cursors and random sampling rely on, see `scan.rs`). A `hashbrown::HashTable` finds
//! a key's slot; each bucket holds the slot's 32-bit position and 32 bits of the key's
//! hash, enough to grow the index without touching the slots (as an `IndexMap` does with
//! the full hash it keeps in every entry). Keys of up to [`INLINE_KEY`] bytes are held
//! inside the slot, so a short key costs no allocation of its own. Per key that is 48 bytes
//! of slot plus 9 bytes per index bucket for `Table<Value>`, against 56 + 9 and a separate
//! key allocation for an `IndexMap<Box<[u8]>, _>`. This module knows nothing of values,
//! expiry or time.

use hashbrown::HashTable;

use crate::Key;

/// Longest key held inline in its slot; longer keys get an exact-size heap block.
pub const INLINE_KEY: usize = 18;

/// A key's bytes and a 32-bit stamp the owner uses as it likes (the main table keeps the
/// last access time there), in 24 bytes: the stamp fills what would otherwise be padding.
#[derive(Debug, Clone)]
pub(crate) enum KeyCell {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY],
        stamp: u32,
    },
    Heap {
        bytes: Box<[u8]>,
        stamp: u32,
    },
}

impl KeyCell {
    fn new(key: &[u8], stamp: u32) -> Self {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            KeyCell::Inline {
                len: key.len() as u8,
                bytes,
                stamp,
            }
        } else {
            KeyCell::Heap {
                bytes: key.into(),
                stamp,
            }
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            KeyCell::Inline { len, bytes, .. } => &bytes[..usize::from(*len)],
            KeyCell::Heap { bytes, .. } => bytes,
        }
    }

    pub(crate) fn stamp(&self) -> u32 {
        match self {
            KeyCell::Inline { stamp, .. } | KeyCell::Heap { stamp, .. } => *stamp,
        }
    }

    pub(crate) fn set_stamp(&mut self, value: u32) {
        match self {
            KeyCell::Inline { stamp, .. } | KeyCell::Heap { stamp, .. } => *stamp = value,
        }
    }

    /// The key as an owned [`Key`] (allocates only for inline keys).
    pub(crate) fn into_key(self) -> Key {
        match self {
            KeyCell::Inline { len, bytes, .. } => bytes[..usize::from(len)].into(),
            KeyCell::Heap { bytes, .. } => bytes,
        }
    }

    /// Heap bytes this key uses besides its slot.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            KeyCell::Inline { .. } => 0,
            KeyCell::Heap { bytes, .. } => bytes.len(),
        }
    }
}

/// One entry: the key (with its stamp) and the value.
#[derive(Debug, Clone)]
pub(crate) struct Slot<V> {
    pub key: KeyCell,
    pub value: V,
}

/// The map. At most `u32::MAX` entries (positions are 32-bit); at 48 bytes a slot that is
/// over 190 GiB of slots alone, far past anything this server holds.
#[derive(Debug)]
pub(crate) struct Table<V> {
    slots: Vec<Slot<V>>,
    index: HashTable<Pos>,
    hasher: ahash::RandomState,
    /// Keys by cluster hash slot, when enabled (cluster mode).
    by_slot: Option<Box<SlotIndex>>,
}

/// The positions of the keys of each hash slot, so that `CLUSTER COUNTKEYSINSLOT` and
/// `GETKEYSINSLOT` (called for every slot a reshard moves) do not scan the table: 8 bytes
/// per key (Redis keeps two pointers per key for the same purpose).
#[derive(Debug)]
struct SlotIndex {
    /// For each hash slot, the positions of its keys (unordered).
    members: Vec<Vec<u32>>,
    /// For each position, where it is in its slot's `members`.
    at: Vec<u32>,
}

impl SlotIndex {
    fn new() -> SlotIndex {
        SlotIndex {
            members: vec![Vec::new(); slotkv_keyslot::SLOTS],
            at: Vec::new(),
        }
    }

    fn add(&mut self, key: &[u8], pos: u32) {
        let list = &mut self.members[slotkv_keyslot::key_slot(key).index()];
        self.at.push(list.len() as u32);
        list.push(pos);
    }

    /// The key at `pos` goes, and the key at `last` (the last position) takes its place.
    fn swap_remove(&mut self, removed_key: &[u8], pos: usize, last_key: &[u8], last: usize) {
        let list = &mut self.members[slotkv_keyslot::key_slot(removed_key).index()];
        let i = self.at[pos] as usize;
        list.swap_remove(i);
        if let Some(&moved) = list.get(i) {
            self.at[moved as usize] = i as u32;
        }
        if pos != last {
            let j = self.at[last] as usize;
            self.members[slotkv_keyslot::key_slot(last_key).index()][j] = pos as u32;
            self.at[pos] = j as u32;
        }
        self.at.pop();
    }
}

/// An index bucket: where the slot is, and 32 bits of its key's hash, from which the
/// table's hash is rebuilt (see [`spread`]) so that growing the index never reads a slot.
#[derive(Debug, Clone, Copy)]
struct Pos {
    slot: u32,
    hash: u32,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
            by_slot: None,
        }
    }
}

/// A reservation the allocator could not satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

/// The 32 bits of a key's hash that the index keeps.
fn hash_key(hasher: &ahash::RandomState, key: &[u8]) -> u32 {
    (hasher.hash_one(key) >> 32) as u32
}

/// The 64-bit hash hashbrown works with, made from the kept 32 bits: its low bits pick the
/// bucket and its top 7 bits are the control byte, so both copies of the kept bits are used
/// (the two overlap only in an index of more than 2^25 buckets).
fn spread(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

fn rehash(pos: &Pos) -> u64 {
    spread(pos.hash)
}

impl<V> Table<V> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The position of `key`'s slot.
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        // No hashing for a table of zero or one key (as IndexMap does).
        match self.slots.as_slice() {
            [] => return None,
            [only] => return (only.key.bytes() == key).then_some(0),
            _ => {}
        }
        let hash = hash_key(&self.hasher, key);
        let slots = &self.slots;
        self.index
            .find(spread(hash), |p| {
                p.hash == hash && slots[p.slot as usize].key.bytes() == key
            })
            .map(|p| p.slot as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&Slot<V>> {
        self.index_of(key).map(|i| &self.slots[i])
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Slot<V>> {
        self.index_of(key).map(|i| &mut self.slots[i])
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.index_of(key).is_some()
    }

    pub fn get_index(&self, i: usize) -> Option<&Slot<V>> {
        self.slots.get(i)
    }

    pub fn get_index_mut(&mut self, i: usize) -> Option<&mut Slot<V>> {
        self.slots.get_mut(i)
    }

    /// Adds `key`, which must not be present, at the end; returns its position.
    pub fn insert_new(&mut self, key: &[u8], stamp: u32, value: V) -> usize {
        debug_assert!(!self.contains_key(key), "insert_new of a present key");
        let at = self.slots.len();
        let slot = u32::try_from(at).expect("a table holds at most u32::MAX keys");
        let hash = hash_key(&self.hasher, key);
        self.index.insert_unique(spread(hash), Pos { slot, hash }, rehash);
        self.slots.push(Slot {
            key: KeyCell::new(key, stamp),
            value,
        });
        if let Some(ix) = &mut self.by_slot {
            ix.add(key, slot);
        }
        at
    }

    /// Sets `key` to `value`: replaces the value in place (keeping the position and the
    /// stamp) or inserts at the end. Returns the old value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        match self.get_mut(key) {
            Some(slot) => Some(std::mem::replace(&mut slot.value, value)),
            None => {
                self.insert_new(key, 0, value);
                None
            }
        }
    }

    /// Removes `key`, moving the last slot into its place (like `IndexMap::swap_remove`).
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<Slot<V>> {
        let hash = hash_key(&self.hasher, key);
        let slots = &self.slots;
        let found = self
            .index
            .find_entry(spread(hash), |p| {
                p.hash == hash && slots[p.slot as usize].key.bytes() == key
            })
            .ok()?;
        let (Pos { slot, .. }, _) = found.remove();
        let at = slot as usize;
        let last = self.slots.len() - 1;
        if let Some(ix) = &mut self.by_slot {
            ix.swap_remove(self.slots[at].key.bytes(), at, self.slots[last].key.bytes(), last);
        }
        if at != last {
            let moved = hash_key(&self.hasher, self.slots[last].key.bytes());
            if let Some(p) = self.index.find_mut(spread(moved), |p| p.slot as usize == last) {
                p.slot = slot;
            }
        }
        Some(self.slots.swap_remove(at))
    }

    /// Starts keeping keys by hash slot (cluster mode), indexing the keys already here.
    pub fn enable_slot_index(&mut self) {
        if self.by_slot.is_some() {
            return;
        }
        let mut ix = SlotIndex::new();
        for (pos, s) in self.slots.iter().enumerate() {
            ix.add(s.key.bytes(), pos as u32);
        }
        self.by_slot = Some(Box::new(ix));
    }

    pub fn has_slot_index(&self) -> bool {
        self.by_slot.is_some()
    }

    /// Positions of the keys in hash slot `slot` (`None` without the slot index).
    pub fn slot_positions(&self, slot: slotkv_keyslot::Slot) -> Option<&[u32]> {
        self.by_slot
            .as_ref()
            .map(|ix| ix.members[slot.index()].as_slice())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Slot<V>> {
        self.slots.iter()
    }

    /// Makes room for `additional` more keys without growing again; `Err` if the memory
    /// cannot be had.
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), OutOfMemory> {
        self.slots
            .try_reserve_exact(additional)
            .map_err(|_| OutOfMemory)?;
        if let Some(ix) = &mut self.by_slot {
            ix.at.try_reserve_exact(additional).map_err(|_| OutOfMemory)?;
        }
        self.index
            .try_reserve(additional, rehash)
            .map_err(|_| OutOfMemory)
    }

    /// Bytes one key costs in the table itself, besides its key and value allocations:
    /// its slot plus its share of the index (at the current load).
    pub fn per_key_overhead(&self) -> usize {
        let index = if self.index.is_empty() {
            0
        } else {
            self.index.allocation_size() / self.index.len()
        };
        std::mem::size_of::<Slot<V>>() + index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_small() {
        assert_eq!(std::mem::size_of::<KeyCell>(), 24);
        assert_eq!(std::mem::size_of::<Slot<crate::Value>>(), 48);
        assert_eq!(std::mem::size_of::<Slot<i64>>(), 32);
    }

    #[test]
    fn keys_inline_and_on_heap() {
        let mut t = Table::default();
        let short = b"k".repeat(INLINE_KEY);
        let long = b"k".repeat(INLINE_KEY + 1);
        t.insert_new(&short, 7, 1);
        t.insert_new(&long, 8, 2);
        t.insert_new(b"", 9, 3);
        assert!(matches!(t.get(&short).unwrap().key, KeyCell::Inline { .. }));
        assert!(matches!(t.get(&long).unwrap().key, KeyCell::Heap { .. }));
        assert_eq!(t.get(&long).unwrap().key.stamp(), 8);
        assert_eq!(t.get(b"").unwrap().value, 3);
        assert!(t.get(b"k").is_none());
        assert_eq!(&*t.swap_remove(&short).unwrap().key.into_key(), &short[..]);
        assert_eq!(t.get_index(0).unwrap().key.bytes(), b"");
        assert_eq!(t.len(), 2);
    }

    /// Against a model: a `Vec` of pairs with the same swap-remove order.
    #[test]
    fn matches_a_swap_remove_vec() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut t = Table::default();
        t.enable_slot_index();
        let mut model: Vec<(Vec<u8>, u64)> = Vec::new();
        for step in 0..20_000u64 {
            let k = format!("key:{}", rng.gen_range(0..3000) * 7919 % 100_003).into_bytes();
            let k = if step % 3 == 0 {
                [k.clone(), b"-a-long-key-suffix".to_vec()].concat()
            } else {
                k
            };
            match rng.gen_range(0..3) {
                0 | 1 => {
                    let old = t.insert(&k, step);
                    match model.iter_mut().find(|(mk, _)| *mk == k) {
                        Some(e) => assert_eq!(old, Some(std::mem::replace(&mut e.1, step))),
                        None => {
                            assert_eq!(old, None);
                            model.push((k, step));
                        }
                    }
                }
                _ => {
                    let got = t.swap_remove(&k).map(|s| s.value);
                    let want = model
                        .iter()
                        .position(|(mk, _)| *mk == k)
                        .map(|p| model.swap_remove(p).1);
                    assert_eq!(got, want);
                }
            }
        }
        assert_eq!(t.len(), model.len());
        for (i, (k, v)) in model.iter().enumerate() {
            let s = t.get_index(i).unwrap();
            assert_eq!((s.key.bytes(), s.value), (&k[..], *v));
            assert_eq!(t.index_of(k), Some(i));
        }
        // The slot index lists exactly the keys of each slot.
        let mut listed = 0;
        for n in 0..slotkv_keyslot::SLOTS {
            let slot = slotkv_keyslot::Slot::new(n as u64).unwrap();
            for &p in t.slot_positions(slot).unwrap() {
                assert_eq!(
                    slotkv_keyslot::key_slot(t.get_index(p as usize).unwrap().key.bytes()),
                    slot
                );
                listed += 1;
            }
        }
        assert_eq!(listed, model.len());
    }
}
