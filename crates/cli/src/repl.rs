//! The read-eval-print loop: a rustyline prompt with history when stdin is a terminal,
//! plain line reading otherwise (`echo "get k" | slotkv-cli`), as redis-cli's `repl()`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use slotkv_protocol::split_args;

use crate::format::OutputMode;
use crate::{eq, Session};

/// What `help` prints. redis-cli also documents each command from the server's COMMAND
/// DOCS; slotkv-cli does not (yet).
pub(crate) const HELP: &str = concat!(
    "slotkv-cli ",
    env!("CARGO_PKG_VERSION"),
    "\n",
    "Type a command and its arguments to run it, e.g. \"get key\".\n",
    "      \"N command ...\" runs it N times\n",
    "      \"connect host port\" switches server, \"clear\" clears the screen\n",
    "      \"quit\" to exit\n",
    "\n"
);

fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLOTKVCLI_HISTFILE") {
        if p.is_empty() {
            return None;
        }
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".slotkvcli_history"))
}

/// Commands kept out of the history file because they carry secrets.
fn is_sensitive(args: &[Vec<u8>]) -> bool {
    let Some(cmd) = args.first() else { return false };
    if eq(cmd, "auth") {
        return true;
    }
    if args.len() > 1 {
        let sub = &args[1];
        if eq(cmd, "acl") && eq(sub, "setuser") {
            return true;
        }
        if eq(cmd, "config") && eq(sub, "set") && args.len() > 2 {
            let param = &args[2];
            if eq(param, "masterauth") || eq(param, "masteruser") || eq(param, "requirepass") {
                return true;
            }
        }
        if eq(cmd, "hello") || eq(cmd, "migrate") {
            return args[1..].iter().any(|a| eq(a, "auth") || eq(a, "auth2"));
        }
    }
    false
}

/// `strtol(s, &end, 10)` with `*end == '\0'`: the whole argument is a number.
fn repeat_prefix(arg: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(arg).ok()?;
    let t = text.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() {
        return Some(0);
    }
    // out-of-range numbers are ERANGE in redis-cli: refused like non-positive ones
    t.parse::<i64>()
        .ok()
        .or_else(|| t.bytes().all(|c| c.is_ascii_digit()).then_some(0))
}

enum Input {
    Editor(Box<DefaultEditor>, Option<PathBuf>),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    fn read(&mut self, prompt: &str) -> Option<Vec<u8>> {
        match self {
            Input::Editor(ed, _) => match ed.readline(prompt) {
                Ok(line) => Some(line.into_bytes()),
                Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => None,
                Err(e) => {
                    eprintln!("{e}");
                    None
                }
            },
            Input::Lines(stdin) => {
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        Some(line)
                    }
                }
            }
        }
    }

    fn remember(&mut self, line: &[u8]) {
        if let Input::Editor(ed, file) = self {
            let _ = ed.add_history_entry(String::from_utf8_lossy(line).as_ref());
            if let Some(f) = file {
                let _ = ed.save_history(f);
            }
        }
    }
}

/// Runs the loop until EOF, Ctrl-C/Ctrl-D at the prompt, or `quit`; returns the exit code.
pub(crate) fn run(session: &mut Session) -> i32 {
    session.interactive = true;
    let _ = session.connect(false, false);
    let mut input = if std::io::stdin().is_terminal() {
        match DefaultEditor::new() {
            Ok(mut ed) => {
                let file = history_file();
                if let Some(f) = &file {
                    let _ = ed.load_history(f);
                }
                Input::Editor(Box::new(ed), file)
            }
            Err(_) => Input::Lines(std::io::stdin().lock()),
        }
    } else {
        Input::Lines(std::io::stdin().lock())
    };
    while let Some(line) = input.read(&session.prompt()) {
        if line.is_empty() {
            continue;
        }
        let Some(args) = split_args(&line) else {
            session.write_out(b"Invalid argument(s)\n");
            input.remember(&line);
            continue;
        };
        let mut args: Vec<Vec<u8>> = args.into_iter().map(|a| a.to_vec()).collect();
        if args.is_empty() {
            continue;
        }
        let mut repeat = 1;
        if args.len() > 1 {
            if let Some(n) = repeat_prefix(&args[0]) {
                if n <= 0 {
                    session.write_out(b"Invalid redis-cli repeat command option value.\n");
                    input.remember(&line);
                    continue;
                }
                repeat = n;
                args.remove(0);
            }
        }
        if !is_sensitive(&args) {
            input.remember(&line);
        }
        if eq(&args[0], "quit") || eq(&args[0], "exit") {
            return 0;
        }
        if args.len() == 3 && eq(&args[0], "connect") {
            session.host = String::from_utf8_lossy(&args[1]).into_owned();
            session.port = crate::atoi(&args[2]) as u16;
            let _ = session.connect(true, false);
        } else if args.len() == 1 && eq(&args[0], "clear") {
            session.write_out(b"\x1b[H\x1b[2J");
        } else {
            let start = Instant::now();
            session.issue_command_repeat(&args, repeat);
            let elapsed = start.elapsed();
            if elapsed.as_millis() >= 500 && session.mode == OutputMode::Standard {
                session.write_out(format!("({:.2}s)\n", elapsed.as_secs_f64()).as_bytes());
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_prefixes() {
        assert_eq!(repeat_prefix(b"3"), Some(3));
        assert_eq!(repeat_prefix(b"-1"), Some(-1));
        assert_eq!(repeat_prefix(b"get"), None);
        assert_eq!(repeat_prefix(b"3x"), None);
    }

    #[test]
    fn sensitive() {
        let v = |s: &[&str]| s.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(is_sensitive(&v(&["AUTH", "x"])));
        assert!(is_sensitive(&v(&["hello", "3", "AUTH", "u", "p"])));
        assert!(is_sensitive(&v(&["config", "set", "requirepass", "p"])));
        assert!(!is_sensitive(&v(&["get", "auth"])));
    }
}
