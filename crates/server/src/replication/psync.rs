//! The master's answer to `PSYNC <replid> <offset>`: continue from the backlog, or start a
//! full resynchronization. Pure: the caller passes the ids and the backlog bounds.

/// The replication ids of a node (Redis's `replid`, `replid2`, `second_replid_offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplIds {
    pub replid: String,
    /// The previous id (after a promotion), valid up to `second_offset`.
    pub replid2: String,
    /// First offset not covered by `replid2`; -1 when there is none.
    pub second_offset: i64,
}

/// The 40 zeros Redis shows for an unset `replid2`.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// The backlog as PSYNC sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogView {
    /// Whether a backlog exists (a replica attached once, or we are a replica).
    pub active: bool,
    /// Offset of the first byte held.
    pub first: u64,
    /// Offset of the last byte produced (`master_repl_offset`).
    pub offset: u64,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsyncDecision {
    /// `+CONTINUE <replid>`, then the backlog from `from`.
    Continue { from: u64 },
    /// `+FULLRESYNC`; `partial_err` when the replica asked for a partial resync
    /// (INFO's `sync_partial_err`).
    Full { partial_err: bool },
}

/// Decides as Redis 7.0's master does: the replid must be the current one, or the previous
/// one for offsets up to where that history ended; the offset must be inside the backlog.
pub fn decide(ids: &ReplIds, backlog: BacklogView, req_replid: &[u8], req_offset: &[u8]) -> PsyncDecision {
    let asked_partial = req_replid != b"?";
    let full = PsyncDecision::Full {
        partial_err: asked_partial,
    };
    if !asked_partial {
        return full;
    }
    let Some(offset) = std::str::from_utf8(req_offset)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return full;
    };
    let same = req_replid == ids.replid.as_bytes();
    let previous =
        ids.second_offset >= 0 && req_replid == ids.replid2.as_bytes() && offset <= ids.second_offset;
    if !same && !previous {
        return full;
    }
    if !backlog.active || offset < backlog.first as i64 || offset > backlog.offset as i64 + 1 {
        return full;
    }
    PsyncDecision::Continue { from: offset as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn ids() -> ReplIds {
        ReplIds {
            replid: A.into(),
            replid2: B.into(),
            second_offset: 101,
        }
    }

    fn bl(first: u64, offset: u64) -> BacklogView {
        BacklogView {
            active: true,
            first,
            offset,
        }
    }

    #[test]
    fn continue_within_backlog() {
        assert_eq!(
            decide(&ids(), bl(50, 200), A.as_bytes(), b"50"),
            PsyncDecision::Continue { from: 50 }
        );
        assert_eq!(
            decide(&ids(), bl(50, 200), A.as_bytes(), b"201"),
            PsyncDecision::Continue { from: 201 }
        );
        assert_eq!(
            decide(&ids(), bl(50, 200), A.as_bytes(), b"202"),
            PsyncDecision::Full { partial_err: true }
        );
        assert_eq!(
            decide(&ids(), bl(50, 200), A.as_bytes(), b"49"),
            PsyncDecision::Full { partial_err: true }
        );
    }

    #[test]
    fn previous_id_up_to_the_switch() {
        assert_eq!(
            decide(&ids(), bl(1, 200), B.as_bytes(), b"101"),
            PsyncDecision::Continue { from: 101 }
        );
        assert_eq!(
            decide(&ids(), bl(1, 200), B.as_bytes(), b"102"),
            PsyncDecision::Full { partial_err: true }
        );
    }

    #[test]
    fn unknown_or_fresh() {
        assert_eq!(
            decide(&ids(), bl(1, 200), b"?", b"-1"),
            PsyncDecision::Full { partial_err: false }
        );
        assert_eq!(
            decide(&ids(), bl(1, 200), b"cccc", b"5"),
            PsyncDecision::Full { partial_err: true }
        );
        assert_eq!(
            decide(&ids(), bl(1, 200), A.as_bytes(), b"x"),
            PsyncDecision::Full { partial_err: true }
        );
        let inactive = BacklogView {
            active: false,
            first: 1,
            offset: 0,
        };
        assert_eq!(
            decide(&ids(), inactive, A.as_bytes(), b"1"),
            PsyncDecision::Full { partial_err: true }
        );
    }
}
