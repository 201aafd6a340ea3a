//! Bounded polling: the only way tests wait for something to happen.
//!
//! A fixed sleep "to let it happen" is either too short on a loaded CI machine or wastes
//! time everywhere else; these helpers poll a condition until a deadline instead, starting
//! with a 1 ms pause and backing off to 50 ms.

use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Polls `cond` until it returns true (→ `true`) or `timeout` has passed (→ `false`).
/// `cond` is always called at least once, and once more at the deadline.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    wait_for(timeout, || cond().then_some(())).is_some()
}

/// Polls `f` until it returns `Some(v)` (→ `Some(v)`) or `timeout` has passed (→ `None`).
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Like [`wait_until`], but panics with `what` (and the time waited) if `cond` never holds.
#[track_caller]
pub fn assert_eventually(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    if !wait_until(timeout, cond) {
        panic!("timed out after {timeout:?} waiting for: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_as_soon_as_true() {
        let start = Instant::now();
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(10), || {
            n += 1;
            n == 3
        }));
        assert_eq!(n, 3);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let start = Instant::now();
        assert!(!wait_until(Duration::from_millis(30), || false));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(30) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn wait_for_yields_the_value() {
        let mut n = 0;
        assert_eq!(
            wait_for(Duration::from_secs(1), || {
                n += 1;
                (n > 1).then_some(n)
            }),
            Some(2)
        );
    }

    #[test]
    #[should_panic(expected = "waiting for: never")]
    fn assert_eventually_panics() {
        assert_eventually(Duration::from_millis(5), "never", || false);
    }
}
