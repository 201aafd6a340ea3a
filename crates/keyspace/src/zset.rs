//! Sorted sets: members with scores, ordered by (score, member), with rank queries.
//!
//! Layout: a member → score map for O(1) ZSCORE, and the order kept in a list of sorted
//! blocks of bounded size, so that insert, delete and rank are O(log n + block size) without
//! unsafe pointer structures (Redis uses a skiplist; this gives the same complexity class in
//! practice with better locality). A Fenwick tree over the block sizes turns "how many
//! entries come before block i" and "which block holds rank r" into O(log n) queries; it is
//! updated in place on ordinary inserts and removes and rebuilt only when blocks split or
//! merge (at most once per BLOCK_MAX/4 operations on a block).

use std::cmp::Ordering;

use crate::Elem;

const BLOCK_MAX: usize = 128;

/// A sorted set.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    /// Member → score, in an insertion-ordered table whose positions drive ZSCAN cursors
    /// (see [`crate::scan_step`]).
    scores: indexmap::IndexMap<Elem, f64, ahash::RandomState>,
    blocks: Vec<Vec<(f64, Elem)>>,
    /// Fenwick tree (1-based) over `blocks[i].len()`; `fen.len() == blocks.len() + 1`
    /// (or 0 when there are no blocks).
    fen: Vec<usize>,
    /// Set once the set has outgrown Redis's listpack encoding: Redis then keeps it as a
    /// skiplist even if it shrinks again, and some replies depend on that (see
    /// [`ZSet::mark_skiplist`]).
    skiplist: bool,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.scores.iter().all(|(m, s)| other.score(m) == Some(*s))
    }
}

/// Orders entries by score, then member. Scores are never NaN; -0 and 0 are the same score
/// (as in Redis, which keeps the sign of a -0 score in its skiplist encoding and replies
/// with it, so the sign is stored as given).
fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.scores.contains_key(member)
    }

    /// Records that Redis would now hold this set as a skiplist (it outgrew the listpack
    /// limits). Sticky: Redis does not convert a shrinking set back.
    pub fn mark_skiplist(&mut self) {
        self.skiplist = true;
    }

    /// Whether [`ZSet::mark_skiplist`] was called (OBJECT ENCODING can report "skiplist"
    /// for such a set even when it is small again, as Redis does).
    pub fn is_marked_skiplist(&self) -> bool {
        self.skiplist
    }

    // ---- Fenwick tree over block sizes ----

    fn fen_rebuild(&mut self) {
        let n = self.blocks.len();
        self.fen.clear();
        if n == 0 {
            return;
        }
        self.fen.resize(n + 1, 0);
        for i in 1..=n {
            self.fen[i] += self.blocks[i - 1].len();
            let j = i + (i & i.wrapping_neg());
            if j <= n {
                let v = self.fen[i];
                self.fen[j] += v;
            }
        }
    }

    fn fen_inc(&mut self, block: usize) {
        let mut i = block + 1;
        while i < self.fen.len() {
            self.fen[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    fn fen_dec(&mut self, block: usize) {
        let mut i = block + 1;
        while i < self.fen.len() {
            self.fen[i] -= 1;
            i += i & i.wrapping_neg();
        }
    }

    /// Number of entries in `blocks[..block]`.
    fn prefix(&self, block: usize) -> usize {
        let mut i = block.min(self.blocks.len());
        let mut s = 0;
        while i > 0 {
            s += self.fen[i];
            i &= i - 1;
        }
        s
    }

    /// The block and offset holding `rank`, or `None` if `rank >= len`.
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        if rank >= self.len() {
            return None;
        }
        let n = self.blocks.len();
        let mut pos = 0;
        let mut rem = rank;
        let mut step = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.fen[next] <= rem {
                pos = next;
                rem -= self.fen[next];
            }
            step >>= 1;
        }
        // `pos` blocks hold at most `rank` entries together; the entry is in block `pos`.
        (pos < n && rem < self.blocks[pos].len()).then_some((pos, rem))
    }

    /// Ranks of entries for which `before` holds, assuming it is monotone (true then false)
    /// along the order.
    fn count_where(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let bi = self.blocks.partition_point(|b| match b.last() {
            Some((s, m)) => before(*s, m),
            None => true,
        });
        let mut n = self.prefix(bi);
        if let Some(b) = self.blocks.get(bi) {
            n += b.partition_point(|(s, m)| before(*s, m));
        }
        n
    }

    /// Index of the block that holds (or would hold) the entry.
    fn block_for(&self, score: f64, member: &[u8]) -> usize {
        // First block whose last entry is >= the probe.
        let idx = self.blocks.partition_point(|b| match b.last() {
            Some((s, m)) => cmp_entry((*s, m), (score, member)) == Ordering::Less,
            None => true,
        });
        idx.min(self.blocks.len().saturating_sub(1))
    }

    /// Adds or updates a member. Returns true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let Some(old) = self.scores.get(member).copied() {
            if old == score {
                return false;
            }
            self.remove_ordered(member, old);
            self.insert_ordered(member, score);
            if let Some(s) = self.scores.get_mut(member) {
                *s = score;
            }
            false
        } else {
            self.insert_ordered(member, score);
            self.scores.insert(member.into(), score);
            true
        }
    }

    fn insert_ordered(&mut self, member: &[u8], score: f64) {
        if self.blocks.is_empty() {
            self.blocks.push(Vec::with_capacity(4));
            self.fen_rebuild();
        }
        let bi = self.block_for(score, member);
        let block = &mut self.blocks[bi];
        let pos = block.partition_point(|(s, m)| cmp_entry((*s, m), (score, member)) == Ordering::Less);
        block.insert(pos, (score, member.into()));
        if block.len() > BLOCK_MAX {
            let tail = block.split_off(BLOCK_MAX / 2);
            self.blocks.insert(bi + 1, tail);
            self.fen_rebuild();
        } else {
            self.fen_inc(bi);
        }
    }

    fn remove_ordered(&mut self, member: &[u8], score: f64) {
        let bi = self.block_for(score, member);
        let Some(block) = self.blocks.get_mut(bi) else {
            return;
        };
        let pos = block.partition_point(|(s, m)| cmp_entry((*s, m), (score, member)) == Ordering::Less);
        if pos < block.len() && block[pos].1.as_ref() == member {
            block.remove(pos);
            if block.is_empty() {
                self.blocks.remove(bi);
                self.fen_rebuild();
            } else if block.len() < BLOCK_MAX / 4
                && bi + 1 < self.blocks.len()
                && self.blocks[bi + 1].len() + self.blocks[bi].len() <= BLOCK_MAX
            {
                let next = self.blocks.remove(bi + 1);
                self.blocks[bi].extend(next);
                self.fen_rebuild();
            } else {
                self.fen_dec(bi);
            }
        }
    }

    /// Removes a member. Returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove(member) {
            Some(score) => {
                self.remove_ordered(member, score);
                true
            }
            None => false,
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_where(|s, m| cmp_entry((s, m), (score, member)) == Ordering::Less))
    }

    /// The first rank whose score satisfies `>= score` (inclusive) or `> score` (exclusive):
    /// the number of entries with a score below (or at most) `score`.
    pub fn first_rank_by_score(&self, score: f64, inclusive: bool) -> usize {
        if inclusive {
            self.count_where(|s, _| s < score)
        } else {
            self.count_where(|s, _| s <= score)
        }
    }

    /// First rank whose member is >= `member` (inclusive) or > `member`, assuming all scores
    /// are equal (the lexicographic commands' precondition; otherwise some rank is returned).
    pub fn first_rank_by_lex(&self, member: &[u8], inclusive: bool) -> usize {
        if inclusive {
            self.count_where(|_, m| m < member)
        } else {
            self.count_where(|_, m| m <= member)
        }
    }

    /// Entry at a 0-based rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        let (b, o) = self.locate(rank)?;
        let (s, m) = &self.blocks[b][o];
        Some((m, *s))
    }

    /// Iterates in ascending order starting at `rank` (nothing if `rank >= len`).
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let (bi, off) = self.locate(rank).unwrap_or((self.blocks.len(), 0));
        self.blocks
            .get(bi)
            .map_or(&[][..], |b| &b[off..])
            .iter()
            .chain(self.blocks.iter().skip(bi + 1).flat_map(|b| b.iter()))
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// Iterates in descending order starting at ascending rank `rank` going down (from the
    /// last entry if `rank >= len`).
    pub fn iter_rev_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let rank = rank.min(self.len().saturating_sub(1));
        let (bi, off) = self.locate(rank).unwrap_or((0, 0));
        let first: &[(f64, Elem)] = match self.blocks.get(bi) {
            Some(b) if !self.is_empty() => &b[..=off],
            _ => &[],
        };
        first
            .iter()
            .rev()
            .chain(
                self.blocks[..bi.min(self.blocks.len())]
                    .iter()
                    .rev()
                    .flat_map(|b| b.iter().rev()),
            )
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// Iterates in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.blocks
            .iter()
            .flat_map(|b| b.iter())
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// A member chosen by position in the hash (for ZRANDMEMBER): `index < len`.
    pub fn member_at_random(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.get_by_rank(rng.gen_range(0..self.len()))
    }

    /// The entry at `pos` of the member table (for ZSCAN: positions `0..len`, walked with
    /// [`crate::scan_step`]).
    pub fn entry_at(&self, pos: usize) -> Option<(&[u8], f64)> {
        self.scores.get_index(pos).map(|(m, s)| (m.as_ref(), *s))
    }

    /// Removes and returns the entry at `rank`.
    pub fn remove_rank(&mut self, rank: usize) -> Option<(Elem, f64)> {
        let (b, o) = self.locate(rank)?;
        let (s, m) = self.blocks[b][o].clone();
        self.remove(&m);
        Some((m, s))
    }

    /// Removes the entries with ranks `start..end`; returns how many were removed.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let victims: Vec<Elem> = self
            .iter_from(start)
            .take(end - start)
            .map(|(m, _)| m.into())
            .collect();
        for m in &victims {
            self.remove(m);
        }
        victims.len()
    }

    /// Checks the internal invariants (tests).
    #[doc(hidden)]
    pub fn check(&self) {
        let all: Vec<_> = self.iter().collect();
        assert_eq!(all.len(), self.scores.len());
        assert!(all
            .windows(2)
            .all(|w| cmp_entry((w[0].1, w[0].0), (w[1].1, w[1].0)) == Ordering::Less));
        for (i, b) in self.blocks.iter().enumerate() {
            assert!(!b.is_empty());
            assert_eq!(self.prefix(i + 1) - self.prefix(i), b.len());
        }
        for (m, s) in &all {
            assert_eq!(self.scores.get(*m), Some(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn order_rank_and_updates() {
        let mut z = ZSet::new();
        for i in 0..1000u32 {
            assert!(z.insert(format!("m{i:04}").as_bytes(), f64::from(1000 - i)));
        }
        assert_eq!(z.len(), 1000);
        assert_eq!(z.rank(b"m0999"), Some(0));
        assert_eq!(z.rank(b"m0000"), Some(999));
        assert!(!z.insert(b"m0000", -1.0));
        assert_eq!(z.rank(b"m0000"), Some(0));
        assert_eq!(z.get_by_rank(0), Some((&b"m0000"[..], -1.0)));
        assert!(z.remove(b"m0500"));
        assert_eq!(z.len(), 999);
        let v: Vec<f64> = z.iter().map(|(_, s)| s).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(z.iter_from(998).count(), 1);
        assert_eq!(z.iter_rev_from(0).count(), 1);
        assert_eq!(z.iter_rev_from(5000).count(), 999);
        assert_eq!(z.first_rank_by_score(1.0, true), 1);
        z.check();
    }

    #[test]
    fn negative_zero_is_the_same_score() {
        let mut z = ZSet::new();
        z.insert(b"b", -0.0);
        z.insert(b"a", 0.0);
        z.insert(b"c", -0.0);
        let order: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(order, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(z.score(b"b").unwrap().is_sign_negative());
        // Same score: no update, the stored sign stays.
        assert!(!z.insert(b"b", 0.0));
        assert!(z.score(b"b").unwrap().is_sign_negative());
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.first_rank_by_score(0.0, true), 0);
        assert_eq!(z.first_rank_by_score(-0.0, false), 3);
        z.check();
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, i8),
        Remove(u16),
        RemoveRange(u16, u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..600, any::<i8>()).prop_map(|(m, s)| Op::Insert(m, s)),
            3 => (0u16..600).prop_map(Op::Remove),
            1 => (0u16..300, 0u16..40).prop_map(|(a, n)| Op::RemoveRange(a, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_reference_model(ops in proptest::collection::vec(op(), 1..1500)) {
            let mut z = ZSet::new();
            let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
            let sorted = |model: &std::collections::BTreeMap<Vec<u8>, f64>| {
                let mut v: Vec<(f64, Vec<u8>)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                v
            };
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let key = format!("m{m}").into_bytes();
                        let new = model.insert(key.clone(), f64::from(s)).is_none();
                        prop_assert_eq!(z.insert(&key, f64::from(s)), new);
                    }
                    Op::Remove(m) => {
                        let key = format!("m{m}").into_bytes();
                        prop_assert_eq!(z.remove(&key), model.remove(&key).is_some());
                    }
                    Op::RemoveRange(a, n) => {
                        let v = sorted(&model);
                        let (a, e) = (a as usize, (a as usize + n as usize).min(v.len()));
                        let expect = e.saturating_sub(a);
                        for (_, m) in v.iter().skip(a).take(expect) {
                            model.remove(m);
                        }
                        prop_assert_eq!(z.remove_rank_range(a, e), expect);
                    }
                }
            }
            z.check();
            let v = sorted(&model);
            prop_assert_eq!(z.len(), v.len());
            for (i, (s, m)) in v.iter().enumerate() {
                prop_assert_eq!(z.rank(m), Some(i));
                prop_assert_eq!(z.get_by_rank(i), Some((&m[..], *s)));
            }
            prop_assert_eq!(z.get_by_rank(v.len()), None);
            for probe in [-129.0, -5.0, 0.0, 3.0, 200.0] {
                let incl = v.iter().filter(|(s, _)| *s < probe).count();
                let excl = v.iter().filter(|(s, _)| *s <= probe).count();
                prop_assert_eq!(z.first_rank_by_score(probe, true), incl);
                prop_assert_eq!(z.first_rank_by_score(probe, false), excl);
            }
            for start in [0usize, 1, 37, 200] {
                let fwd: Vec<_> = z.iter_from(start).map(|(m, _)| m.to_vec()).collect();
                let exp: Vec<_> = v.iter().skip(start).map(|(_, m)| m.clone()).collect();
                prop_assert_eq!(fwd, exp);
                let rev: Vec<_> = z.iter_rev_from(start).map(|(m, _)| m.to_vec()).collect();
                let exp: Vec<_> = v.iter().take((start + 1).min(v.len())).rev().map(|(_, m)| m.clone()).collect();
                prop_assert_eq!(rev, exp);
            }
        }
    }
}
