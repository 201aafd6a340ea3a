//! Sorted sets: members with scores, ordered by (score, member), with rank queries.
//!
//! Layout: a member → score map for O(1) ZSCORE, and the order kept in a list of sorted
//! blocks of bounded size, so that insert, delete and rank are O(log n + block size) without
//! unsafe pointer structures (Redis uses a skiplist; this gives the same complexity class in
//! practice with better locality).

use std::cmp::Ordering;

use crate::Elem;

const BLOCK_MAX: usize = 128;

/// A sorted set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    scores: ahash::HashMap<Elem, f64>,
    blocks: Vec<Vec<(f64, Elem)>>,
}

fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
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
            if old.total_cmp(&score) == Ordering::Equal {
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
        }
        let bi = self.block_for(score, member);
        let block = &mut self.blocks[bi];
        let pos = block.partition_point(|(s, m)| cmp_entry((*s, m), (score, member)) == Ordering::Less);
        block.insert(pos, (score, member.into()));
        if block.len() > BLOCK_MAX {
            let tail = block.split_off(BLOCK_MAX / 2);
            self.blocks.insert(bi + 1, tail);
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
            } else if block.len() < BLOCK_MAX / 4 && bi + 1 < self.blocks.len() {
                let next_len = self.blocks[bi + 1].len();
                if next_len + self.blocks[bi].len() <= BLOCK_MAX {
                    let next = self.blocks.remove(bi + 1);
                    self.blocks[bi].extend(next);
                }
            }
        }
    }

    /// Removes a member. Returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
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
        Some(self.count_before(score, member))
    }

    /// Number of entries ordered strictly before (score, member).
    fn count_before(&self, score: f64, member: &[u8]) -> usize {
        let mut n = 0;
        for b in &self.blocks {
            match b.last() {
                Some((s, m)) if cmp_entry((*s, m), (score, member)) == Ordering::Less => n += b.len(),
                _ => {
                    n += b.partition_point(|(s, m)| cmp_entry((*s, m), (score, member)) == Ordering::Less);
                    break;
                }
            }
        }
        n
    }

    /// Number of entries whose score is below `score` (or at most `score` when `inclusive`
    /// is false the bound is excluded from the count of "before": entries with score <
    /// `score` when `inclusive`, entries with score <= `score` otherwise). Used for range
    /// starts: the first rank whose score satisfies `>= score` (inclusive) or `> score`.
    pub fn first_rank_by_score(&self, score: f64, inclusive: bool) -> usize {
        let before = |s: f64| if inclusive { s < score } else { s <= score };
        let mut n = 0;
        for b in &self.blocks {
            match b.last() {
                Some((s, _)) if before(*s) => n += b.len(),
                _ => {
                    n += b.partition_point(|(s, _)| before(*s));
                    break;
                }
            }
        }
        n
    }

    /// Entry at a 0-based rank.
    pub fn get_by_rank(&self, mut rank: usize) -> Option<(&[u8], f64)> {
        for b in &self.blocks {
            if rank < b.len() {
                let (s, m) = &b[rank];
                return Some((m, *s));
            }
            rank -= b.len();
        }
        None
    }

    /// Iterates in ascending order starting at `rank`.
    pub fn iter_from(&self, mut rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut start_block = self.blocks.len();
        for (i, b) in self.blocks.iter().enumerate() {
            if rank < b.len() {
                start_block = i;
                break;
            }
            rank -= b.len();
        }
        self.blocks
            .iter()
            .skip(start_block)
            .enumerate()
            .flat_map(move |(i, b)| b[if i == 0 { rank } else { 0 }..].iter())
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// Iterates in descending order starting at ascending rank `rank` going down.
    pub fn iter_rev_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let total = self.len();
        let skip = total.saturating_sub(rank + 1);
        self.blocks
            .iter()
            .rev()
            .flat_map(|b| b.iter().rev())
            .skip(skip)
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// Iterates in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.blocks
            .iter()
            .flat_map(|b| b.iter())
            .map(|(s, m)| (m.as_ref(), *s))
    }

    /// First rank whose member is >= `member` (inclusive) or > `member`, assuming all scores
    /// are equal (the lexicographic commands' precondition).
    pub fn first_rank_by_lex(&self, member: &[u8], inclusive: bool) -> usize {
        let before = |m: &[u8]| if inclusive { m < member } else { m <= member };
        let mut n = 0;
        for b in &self.blocks {
            match b.last() {
                Some((_, m)) if before(m) => n += b.len(),
                _ => {
                    n += b.partition_point(|(_, m)| before(m));
                    break;
                }
            }
        }
        n
    }

    /// A member chosen by position in the hash (for ZRANDMEMBER): `index < len`.
    pub fn member_at_random(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.get_by_rank(rng.gen_range(0..self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(z.first_rank_by_score(1.0, true), 1);
    }
}
