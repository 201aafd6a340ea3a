//! `daemonize yes`: fork, new session, standard streams to /dev/null — before any thread
//! or runtime exists.
#![allow(unsafe_code)]

/// Detaches the process like Redis's `daemonize()`.
pub fn daemonize() -> std::io::Result<()> {
    // SAFETY: called from main before any other thread is started; the child continues
    // with the single thread that called fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        std::process::exit(0);
    }
    // SAFETY: plain syscalls on our own process with valid arguments.
    unsafe {
        libc::setsid();
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if devnull >= 0 {
            libc::dup2(devnull, 0);
            libc::dup2(devnull, 1);
            libc::dup2(devnull, 2);
            if devnull > 2 {
                libc::close(devnull);
            }
        }
    }
    Ok(())
}
