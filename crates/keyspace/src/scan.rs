//! SCAN-family cursors over insertion-ordered tables.
//!
//! Tables here (a database's key table, the `IndexMap`s of collections) delete by swapping
//! the last entry into the hole. A cursor walks positions from the end towards the start: an
//! entry moved by a deletion always comes from the end (already visited) into the hole, so
//! every entry present for the whole scan is returned at least once, which is Redis's SCAN
//! guarantee. Cursor 0 starts and ends.

/// A SCAN cursor as the client sees it.
pub type ScanCursor = u64;

/// One step of a scan over a table of `len` entries: returns the range of positions to
/// visit now (in descending order, as `hi..lo` reversed) and the cursor to hand back.
pub fn scan_step(len: usize, cursor: ScanCursor, count: usize) -> (std::ops::Range<usize>, ScanCursor) {
    let start = if cursor == 0 {
        len
    } else {
        (cursor as usize).min(len)
    };
    let lo = start.saturating_sub(count.max(1));
    let next = if lo == 0 { 0 } else { lo as u64 };
    (lo..start, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_everything_once_without_changes() {
        let mut cursor = 0;
        let mut seen = 0;
        loop {
            let (r, next) = scan_step(25, cursor, 10);
            seen += r.len();
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, 25);
        assert_eq!(scan_step(0, 0, 10), (0..0, 0));
    }
}
