//! Child processes for background saves, as Redis does: the child gets a copy-on-write
//! snapshot of memory at the instant of the fork, writes the file and exits; clients are
//! never blocked while it runs.
//!
//! The fork happens while the calling thread holds the core lock, so the keyspace the
//! child sees is consistent. The child touches nothing that another thread could have
//! held locked at fork time: no logging, no runtime, only memory it already has, the
//! allocator (fork-safe in glibc) and plain file syscalls; it leaves with `_exit`.
#![allow(unsafe_code)]

use std::io;

/// Runs `child` in a forked process and returns its pid to the parent.
pub fn spawn_child(child: impl FnOnce() -> bool) -> io::Result<i32> {
    // SAFETY: see the module comment; the child only runs `child` and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: terminating the child without running the parent's atexit handlers or
        // destructors, which belong to the parent's state.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    Ok(pid)
}

/// Status of a child: `None` while it runs, `Some(success)` once it has exited.
pub fn poll_child(pid: i32) -> Option<bool> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return None;
    }
    if r < 0 {
        // Already reaped or not our child: treat as failed so that state is not stuck.
        return Some(false);
    }
    Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
}

/// Kills a child (SHUTDOWN while a background save runs).
pub fn kill_child(pid: i32) {
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(pid, libc::SIGUSR1);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

/// Takes an exclusive advisory lock on a file without waiting (nodes.conf), as Redis does
/// so that two nodes never share one cluster configuration file.
pub fn try_lock_exclusive(f: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own for the duration of the call.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}
