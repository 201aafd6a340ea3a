//! Hash slots and the small types every cluster-aware crate shares: [`Slot`] (< 16384),
//! [`key_slot`] (CRC16/XMODEM of the key or of its `{hash tag}`, mod 16384), [`SlotSet`] (a
//! 16384-bit bitmap, the wire and memory form of "which slots a node serves"), [`NodeId`]
//! (40 lowercase hex characters) and [`Epoch`]. Validation happens once, at construction.

use std::fmt;

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// A hash slot number, always < 16384.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u16);

impl Slot {
    pub fn new(n: u64) -> Option<Slot> {
        (n < SLOTS as u64).then_some(Slot(n as u16))
    }

    /// Parses a slot argument (decimal, 0..16383).
    pub fn parse(s: &[u8]) -> Option<Slot> {
        let text = std::str::from_utf8(s).ok()?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 5 {
            return None;
        }
        Slot::new(text.parse().ok()?)
    }

    #[inline]
    pub fn get(self) -> u16 {
        self.0
    }

    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// CRC16/XMODEM (poly 0x1021, init 0), the checksum Redis Cluster hashes keys with.
pub fn crc16(data: &[u8]) -> u16 {
    const TABLE: [u16; 256] = {
        let mut t = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut j = 0;
            while j < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                j += 1;
            }
            t[i] = crc;
            i += 1;
        }
        t
    };
    let mut crc: u16 = 0;
    for &b in data {
        crc = (crc << 8) ^ TABLE[((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

/// The slot of a key: if the key has a `{...}` with at least one character between the
/// first `{` and the next `}`, only that part is hashed.
#[inline]
pub fn key_slot(key: &[u8]) -> Slot {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    Slot(crc16(hashed) & (SLOTS as u16 - 1))
}

/// A set of slots as a 16384-bit bitmap (2048 bytes, the layout of `myslots` on the bus).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Box<[u8; SLOTS / 8]>,
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            bits: Box::new([0u8; SLOTS / 8]),
        }
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet({})", self.ranges_string())
    }
}

impl SlotSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// From the 2048-byte bus representation (bit `n % 8` of byte `n / 8`).
    pub fn from_bytes(b: &[u8; SLOTS / 8]) -> Self {
        SlotSet { bits: Box::new(*b) }
    }

    pub fn as_bytes(&self) -> &[u8; SLOTS / 8] {
        &self.bits
    }

    #[inline]
    pub fn contains(&self, s: Slot) -> bool {
        self.bits[s.index() / 8] & (1 << (s.index() % 8)) != 0
    }

    pub fn insert(&mut self, s: Slot) -> bool {
        let was = self.contains(s);
        self.bits[s.index() / 8] |= 1 << (s.index() % 8);
        !was
    }

    pub fn remove(&mut self, s: Slot) -> bool {
        let was = self.contains(s);
        self.bits[s.index() / 8] &= !(1 << (s.index() % 8));
        was
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&b| b == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        (0..SLOTS as u16).map(Slot).filter(|s| self.contains(*s))
    }

    /// Contiguous ranges, inclusive. A word (64 slots) at a time: nodes.conf and the
    /// routing view are rebuilt from these on every slot change of a reshard.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for (w, chunk) in self.bits.chunks_exact(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let word = u64::from_le_bytes(bytes);
            match (word, start) {
                (0, None) | (u64::MAX, Some(_)) => continue,
                _ => {}
            }
            let base = w * 64;
            let mut pos = 0;
            while pos < 64 {
                // Looking for the next set bit outside a range, the next clear one inside.
                let rest = if start.is_none() { word } else { !word } >> pos;
                if rest == 0 {
                    break;
                }
                pos += rest.trailing_zeros() as usize;
                match start.take() {
                    None => start = Some(base + pos),
                    Some(s) => out.push((s as u16, (base + pos - 1) as u16)),
                }
            }
        }
        if let Some(s) = start {
            out.push((s as u16, SLOTS as u16 - 1));
        }
        out
    }

    /// `0-5460 5462` as CLUSTER NODES prints slot ranges.
    pub fn ranges_string(&self) -> String {
        self.ranges()
            .iter()
            .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A node id: 40 lowercase hex characters.
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct NodeId([u8; 40]);

impl std::hash::Hash for NodeId {
    /// The bytes, like the equality below.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for NodeId {
    /// Five word compares, inlined: slot tables compare owners 16384 times per pass, and
    /// a `memcmp` call per slot showed up as a third of `CLUSTER SETSLOT`'s time.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let word = |b: &[u8; 40], i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        };
        (0..5).all(|i| word(&self.0, i) == word(&other.0, i))
    }
}

impl NodeId {
    /// Parses 40 hex characters (either case; stored lowercase).
    pub fn parse(s: &[u8]) -> Option<NodeId> {
        if s.len() != 40 || !s.iter().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; 40];
        for (d, c) in id.iter_mut().zip(s) {
            *d = c.to_ascii_lowercase();
        }
        Some(NodeId(id))
    }

    /// From 40 raw bytes off the wire: must be hex.
    pub fn from_wire(b: &[u8; 40]) -> Option<NodeId> {
        Self::parse(b)
    }

    /// A fresh random id.
    pub fn random() -> NodeId {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let mut id = [0u8; 40];
        for c in id.iter_mut() {
            *c = b"0123456789abcdef"[rng.gen_range(0..16)];
        }
        NodeId(id)
    }

    /// The all-zero id (used on the wire for "no master").
    pub fn is_null_wire(b: &[u8; 40]) -> bool {
        b.iter().all(|&c| c == 0)
    }

    pub fn as_bytes(&self) -> &[u8; 40] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

/// A configuration or current epoch.
pub type Epoch = u64;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ranges_are_the_runs_of_set_slots(
            runs in proptest::collection::vec((0u16..SLOTS as u16, 0u16..300), 0..40),
            singles in proptest::collection::vec(0u16..SLOTS as u16, 0..40),
        ) {
            let mut set = SlotSet::new();
            for (a, len) in runs {
                for s in a..(a.saturating_add(len)).min(SLOTS as u16) {
                    set.insert(Slot(s));
                }
            }
            for s in singles {
                set.insert(Slot(s));
            }
            // The definition, one slot at a time.
            let mut expected = Vec::new();
            let mut start = None;
            for i in 0..SLOTS as u16 {
                match (set.contains(Slot(i)), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        expected.push((s, i - 1));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                expected.push((s, SLOTS as u16 - 1));
            }
            prop_assert_eq!(set.ranges(), expected);
        }
    }

    #[test]
    fn slots_match_redis() {
        // Values from the cluster specification and `CLUSTER KEYSLOT` on redis-server.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo").get(), 12182);
        assert_eq!(key_slot(b"aaa").get(), 10439);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"foo{}{bar}").get(), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    #[test]
    fn slot_sets() {
        let mut s = SlotSet::new();
        for i in 0..=5460 {
            s.insert(Slot(i));
        }
        s.insert(Slot(5462));
        assert_eq!(s.ranges_string(), "0-5460 5462");
        assert_eq!(s.len(), 5462);
        assert!(Slot::parse(b"16384").is_none());
        assert!(Slot::parse(b"-1").is_none());
        assert_eq!(Slot::parse(b"16383"), Slot::new(16383));
    }

    #[test]
    fn node_ids() {
        let id = NodeId::random();
        assert_eq!(NodeId::parse(id.as_str().as_bytes()), Some(id));
        assert!(NodeId::parse(b"xyz").is_none());
    }
}
