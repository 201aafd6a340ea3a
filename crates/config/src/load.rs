//! Loading a configuration: redis-server's argv handling (config file, `-` for stdin,
//! `--name value` options) and the config file grammar (`sdssplitargs` quoting, `include`,
//! `rename-command`, `user`, `loadmodule`, deprecated directives), with Redis's errors.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use slotkv_protocol::{glob_match, split_args};

use crate::config::{default_value, Config};
use crate::error::{strerror, ConfigError};
use crate::table::{lookup, Status, DIRECTIVES};
use crate::value::{parse_value, repr, Kind, Value};

/// Directives Redis 7.0 still accepts (with exactly this many words) and ignores.
const DEPRECATED: [&str; 3] = [
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// How deep `include` may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 32;

enum LineError {
    Reason(String),
    Fatal(ConfigError),
}

impl From<String> for LineError {
    fn from(s: String) -> LineError {
        LineError::Reason(s)
    }
}

struct Loader {
    cfg: Config,
    warnings: Vec<String>,
    warned: HashSet<String>,
    /// Whether a `save` line was seen: the first one replaces the defaults, later ones add.
    save_seen: bool,
    depth: usize,
}

impl Loader {
    fn new() -> Loader {
        Loader {
            cfg: Config::default(),
            warnings: Vec::new(),
            warned: HashSet::new(),
            save_seen: false,
            depth: 0,
        }
    }

    fn warn_not_implemented(&mut self, name: &str, line: usize, source: &str) {
        if self.warned.insert(name.to_string()) {
            self.warnings.push(format!(
                "config directive '{name}' ({source}, line {line}) is accepted but not \
                 implemented by slotkv: its value is only reported by CONFIG GET"
            ));
        }
    }

    /// Loads config text. `source` names it in errors and warnings; lines numbered past
    /// `file_lines` are reported as coming from the command line.
    fn load_text(&mut self, text: &[u8], source: &str, file_lines: usize) -> Result<(), ConfigError> {
        // Redis reads the configuration as a C string: nothing after a NUL byte counts.
        let text = text.split(|&c| c == 0).next().unwrap_or_default();
        for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
            let line_no = i + 1;
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let src = if line_no > file_lines {
                "command line"
            } else {
                source
            };
            let err = |reason: &str| ConfigError::Line {
                source_name: src.to_string(),
                line: line_no,
                text: String::from_utf8_lossy(line).into_owned(),
                reason: reason.to_string(),
            };
            let Some(argv) = split_args(line) else {
                return Err(err("Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            let name = argv[0].to_ascii_lowercase();
            let args: Vec<&[u8]> = argv[1..].iter().map(|a| a.as_ref()).collect();
            match self.line(&name, &args, line_no, src) {
                Ok(()) => {}
                Err(LineError::Reason(r)) => return Err(err(&r)),
                Err(LineError::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies one config line; the error is Redis's reason text, or an error from an
    /// included file (reported with that file's line).
    fn line(&mut self, name: &[u8], args: &[&[u8]], line_no: usize, src: &str) -> Result<(), LineError> {
        let name_str = String::from_utf8_lossy(name).into_owned();
        if let Some((idx, _)) = lookup(name) {
            let d = &DIRECTIVES[idx];
            if !d.kind.multi_arg() && args.len() != 1 {
                return Err("wrong number of arguments".to_string().into());
            }
            let v = parse_value(&d.kind, args, Some(&self.cfg.values[idx]))?;
            self.cfg.values[idx] = match (v, &self.cfg.values[idx]) {
                // Save points accumulate over the file; the first `save` drops the defaults.
                (Value::Save(new), Value::Save(old)) if self.save_seen && !new.is_empty() => {
                    let mut all = old.clone();
                    all.extend(new);
                    Value::Save(all)
                }
                (v, _) => v,
            };
            if let Kind::Save = d.kind {
                self.save_seen = true;
            }
            if d.status == Status::NotImplemented {
                self.warn_not_implemented(d.name, line_no, src);
            }
            return Ok(());
        }
        let argc = args.len() + 1;
        if DEPRECATED.iter().any(|n| n.as_bytes() == name) && argc == 2 {
            return Ok(());
        }
        match (name, argc) {
            (b"include", 2) => self.include(args[0]).map_err(LineError::Fatal),
            (b"rename-command", 3) => {
                self.cfg
                    .rename_commands
                    .push((args[0].to_vec(), args[1].to_vec()));
                self.warn_not_implemented("rename-command", line_no, src);
                Ok(())
            }
            (b"user", n) if n >= 2 => {
                self.cfg.users.push(args.iter().map(|a| a.to_vec()).collect());
                self.warn_not_implemented("user", line_no, src);
                Ok(())
            }
            (b"loadmodule", n) if n >= 2 => {
                self.cfg
                    .load_modules
                    .push(args.iter().map(|a| a.to_vec()).collect());
                self.warn_not_implemented("loadmodule", line_no, src);
                Ok(())
            }
            (b"sentinel", 1) => {
                self.warn_not_implemented("sentinel", line_no, src);
                Ok(())
            }
            (b"sentinel", _) => Err("sentinel directive while not in sentinel mode".to_string().into()),
            (n, _) if n.contains(&b'.') => {
                if argc != 2 {
                    return Err("Module config specified without value".to_string().into());
                }
                self.cfg.module_configs.push((n.to_vec(), args[0].to_vec()));
                self.warn_not_implemented(&name_str, line_no, src);
                Ok(())
            }
            _ => Err("Bad directive or wrong number of arguments".to_string().into()),
        }
    }

    /// `include <path>`: the path is relative to the current directory, as in Redis; a glob
    /// in the file name includes every match (none is fine), a plain path must exist.
    fn include(&mut self, path: &[u8]) -> Result<(), ConfigError> {
        let path = String::from_utf8_lossy(path).into_owned();
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::Open {
                path,
                reason: "Too many levels of include".into(),
            });
        }
        let files = if path.contains(['*', '?', '[']) {
            glob_files(&path)
        } else {
            vec![path]
        };
        for f in files {
            let text = read_file(&f)?;
            self.depth += 1;
            let r = self.load_text(&text, &f, usize::MAX);
            self.depth -= 1;
            r?;
        }
        Ok(())
    }

    /// Checks Redis makes once everything is read.
    fn finish(mut self) -> Result<(Config, Vec<String>), ConfigError> {
        if self.cfg.cluster_enabled() && self.cfg.replicaof().is_some() {
            return Err(ConfigError::Final {
                reason: "replicaof directive not allowed in cluster mode".to_string(),
            });
        }
        let hz_idx = crate::table::index_of("hz");
        if let Value::Num(n) = self.cfg.values[hz_idx] {
            self.cfg.values[hz_idx] = Value::Num(n.clamp(crate::config::MIN_HZ, crate::config::MAX_HZ));
        }
        Ok((self.cfg, self.warnings))
    }
}

/// Trims what Redis's `sdstrim(line, " \t\r\n")` removes.
fn trim(mut s: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(ws) {
        s = &s[1..];
    }
    while s.last().is_some_and(ws) {
        s = &s[..s.len() - 1];
    }
    s
}

fn read_file(path: &str) -> Result<Vec<u8>, ConfigError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) => Err(ConfigError::Open {
            path: path.to_string(),
            reason: strerror(&e),
        }),
    }
}

/// Expands a glob whose wildcards are in the file name only (like `conf.d/*.conf`), sorted.
fn glob_files(pattern: &str) -> Vec<String> {
    let p = Path::new(pattern);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_pat) = p.file_name().map(|f| f.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && !file_pat.starts_with('.') {
                return None;
            }
            glob_match(file_pat.as_bytes(), name.as_bytes(), false)
                .then(|| dir.join(&name).to_string_lossy().into_owned())
        })
        .collect();
    out.sort();
    out
}

/// Turns redis-server style options (`--port 7001 --save ""`, `"--port 7001"`) into config
/// lines, one per `--name`, the way redis-server's main() does.
fn options_text(args: &[String]) -> String {
    let mut options = String::new();
    let mut handled_last = true;
    // The directive whose arguments follow (lowercase name).
    let mut current: Option<Vec<u8>> = None;
    for (j, a) in args.iter().enumerate() {
        if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            current = Some(a[2..].to_ascii_lowercase().into_bytes());
            let words = split_args(a.as_bytes()).map(|w| w.len()).unwrap_or(1);
            if words == 1 {
                handled_last = false;
                let next_is_option = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                let is_last = j + 1 == args.len();
                if a.eq_ignore_ascii_case("--save") && (next_is_option || is_last) {
                    // `--save` with no value means `save ""` (no RDB snapshots).
                    options.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            // A multi-argument directive given as one argument on the command line is split
            // into its words (`--replicaof "127.0.0.1 7000"`, `--save "900 1"`), as
            // redis-server does; anything else is quoted as one argument.
            let multi = current
                .as_deref()
                .and_then(lookup)
                .is_some_and(|(i, _)| DIRECTIVES[i].kind.multi_arg());
            if multi && a.contains(' ') && split_args(a.as_bytes()).is_some() {
                options.push_str(a);
            } else {
                options.push_str(&repr(a.as_bytes()));
            }
            options.push(' ');
            handled_last = true;
        }
    }
    options
}

impl Config {
    /// Like redis-server's argv handling (`args` excludes the program name): an optional
    /// config file path first (anything not starting with '-'), `-` as first or last argument
    /// to read more config from stdin, then `--name value...` options appended as extra lines
    /// (also the single-argument `"--port 7001"` form and a bare `--save`). Returns the
    /// config and warnings to log, one line each.
    pub fn from_args(args: &[String]) -> Result<(Config, Vec<String>), ConfigError> {
        let mut j = 0;
        let mut file: Option<PathBuf> = None;
        if let Some(first) = args.first() {
            if !first.starts_with('-') {
                let p = PathBuf::from(first);
                let abs = if p.is_absolute() {
                    p
                } else {
                    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
                };
                file = Some(abs);
                j = 1;
            }
        }
        let mut from_stdin = false;
        let mut rest: Vec<String> = Vec::new();
        let n = args.len();
        for (k, a) in args.iter().enumerate().skip(j) {
            if a == "-" && (k == 0 || k == n - 1) {
                from_stdin = true;
            } else {
                rest.push(a.clone());
            }
        }
        let mut text: Vec<u8> = Vec::new();
        let source = match &file {
            Some(f) => {
                let path = f.to_string_lossy().into_owned();
                text.extend_from_slice(&read_file(&path)?);
                path
            }
            None => "command line".to_string(),
        };
        if from_stdin {
            std::io::stdin()
                .read_to_end(&mut text)
                .map_err(|e| ConfigError::Open {
                    path: "-".into(),
                    reason: strerror(&e),
                })?;
        }
        let file_lines = text.split(|&c| c == b'\n').count();
        text.push(b'\n');
        text.extend_from_slice(options_text(&rest).as_bytes());
        let mut loader = Loader::new();
        loader.cfg.config_file = file;
        loader.load_text(&text, &source, if from_stdin { usize::MAX } else { file_lines })?;
        loader.finish()
    }

    /// Loads config text as the contents of the file `path` (which is only used in messages
    /// and as the CONFIG REWRITE target; `include`s are read from disk).
    pub fn from_file_text(text: &str, path: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_file_bytes(text.as_bytes(), path)
    }

    /// [`Config::from_file_text`] for a file that may not be UTF-8 (values stay raw bytes).
    pub fn from_file_bytes(text: &[u8], path: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let mut loader = Loader::new();
        if !path.is_empty() {
            loader.cfg.config_file = Some(PathBuf::from(path));
        }
        loader.load_text(text, path, usize::MAX)?;
        loader.finish()
    }

    /// Whether directive `name` (canonical) is at its default value.
    pub fn is_default(&self, name: &str) -> bool {
        let idx = crate::table::index_of(name);
        self.values[idx] == default_value(&DIRECTIVES[idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_become_lines() {
        assert_eq!(options_text(&s(&["--port", "7001"])), "port \"7001\" ");
        assert_eq!(
            options_text(&s(&["--port 7001", "--hz", "5"])),
            "port 7001 \nhz \"5\" "
        );
        assert_eq!(
            options_text(&s(&["--save", "--port", "1"])),
            "save \"\"\nport \"1\" "
        );
        assert_eq!(
            options_text(&s(&["--port", "1", "--save"])),
            "port \"1\" \nsave \"\""
        );
        assert_eq!(options_text(&s(&["--save", ""])), "save \"\" ");
        assert_eq!(options_text(&s(&["--hz", "--7"])), "hz \"--7\" ");
        assert_eq!(
            options_text(&s(&["--save", "10", "1", "20", "2"])),
            "save \"10\" \"1\" \"20\" \"2\" "
        );
    }
}
