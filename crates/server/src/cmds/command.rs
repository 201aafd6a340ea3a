//! COMMAND and its subcommands: the command table as clients (cluster clients above all)
//! read it.

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::{glob_match, ReplyWriter};

use super::*;
use crate::exec::SrvCtx;
use crate::shared::Shared;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Connection;
    let h = |f: SrvFn| Handler::Srv(f);
    let ls = LOADING | STALE;
    vec![cmd("command", -1, ls, (0, 0, 0), g, h(command_all))
        .since("2.8.13")
        .summary("Get array of Redis command details")
        .complexity("O(N) where N is the total number of Redis commands")
        .subs(vec![
            cmd("command|count", 2, ls, (0, 0, 0), g, h(command_count)).since("2.8.13"),
            cmd("command|docs", -2, ls, (0, 0, 0), g, h(command_docs)).since("7.0.0"),
            cmd("command|getkeys", -4, ls, (0, 0, 0), g, h(command_getkeys)).since("2.8.13"),
            cmd(
                "command|getkeysandflags",
                -4,
                ls,
                (0, 0, 0),
                g,
                h(command_getkeysandflags),
            )
            .since("7.0.0"),
            cmd("command|help", 2, ls, (0, 0, 0), g, h(command_help)).since("5.0.0"),
            cmd("command|info", -2, ls, (0, 0, 0), g, h(command_info)).since("2.8.13"),
            cmd("command|list", -2, ls, (0, 0, 0), g, h(command_list)).since("7.0.0"),
        ])]
}

/// The key-spec flags we report for a command's keys, derived from its command flags.
fn key_flags(spec: &Spec) -> &'static [&'static str] {
    if spec.has(WRITE) {
        &["RW", "update"]
    } else if spec.has(READONLY) {
        &["RO", "access"]
    } else {
        &["RW", "access", "update"]
    }
}

/// Writes one key spec (a map) describing the legacy first/last/step triple.
fn write_range_key_spec(out: &mut ReplyWriter, spec: &Spec) {
    out.map_len(3);
    out.bulk(b"flags");
    let f = key_flags(spec);
    out.set_len(f.len());
    for x in f {
        out.simple(x);
    }
    out.bulk(b"begin_search");
    out.map_len(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map_len(1);
    out.bulk(b"index");
    out.int(i64::from(spec.first_key));
    out.bulk(b"find_keys");
    out.map_len(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map_len(3);
    out.bulk(b"lastkey");
    let last = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    out.int(i64::from(last));
    out.bulk(b"keystep");
    out.int(i64::from(spec.step));
    out.bulk(b"limit");
    out.int(0);
}

/// A key spec for keys found by a function (`movablekeys`) that we cannot describe.
fn write_unknown_key_spec(out: &mut ReplyWriter, spec: &Spec) {
    out.map_len(3);
    out.bulk(b"flags");
    let f = key_flags(spec);
    out.set_len(f.len());
    for x in f {
        out.simple(x);
    }
    for part in [&b"begin_search"[..], b"find_keys"] {
        out.bulk(part);
        out.map_len(2);
        out.bulk(b"type");
        out.bulk(b"unknown");
        out.bulk(b"spec");
        out.map_len(0);
    }
}

/// Flag names as Redis 7.0 reports them: `sentinel` and `may_replicate` are hidden, and
/// `movablekeys` comes before `allow_busy`.
pub fn reported_flags(spec: &Spec) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = spec
        .flag_names()
        .into_iter()
        .filter(|f| !matches!(*f, "sentinel" | "may_replicate" | "movablekeys" | "allow_busy"))
        .collect();
    if spec.is_movable() {
        v.push("movablekeys");
    }
    if spec.has(ALLOW_BUSY) {
        v.push("allow_busy");
    }
    v
}

/// One 10-element COMMAND INFO entry (Redis 7.0 layout).
pub fn write_command_info(out: &mut ReplyWriter, spec: &Spec) {
    out.array_len(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    let flags = reported_flags(spec);
    out.set_len(flags.len());
    for f in &flags {
        out.simple(f);
    }
    out.int(i64::from(spec.first_key));
    out.int(i64::from(spec.last_key));
    out.int(i64::from(spec.step));
    // Containers report only @slow, like Redis.
    let cats = spec.acl_categories();
    out.set_len(cats.len());
    for c in &cats {
        out.simple(c);
    }
    out.set_len(0); // tips
    let range = spec.first_key > 0;
    let n = usize::from(range) + usize::from(spec.is_movable());
    out.array_len(n);
    if range {
        write_range_key_spec(out, spec);
    }
    if spec.is_movable() {
        write_unknown_key_spec(out, spec);
    }
    out.array_len(spec.subcommands.len());
    for sub in &spec.subcommands {
        write_command_info(out, sub);
    }
}

fn write_command_docs(out: &mut ReplyWriter, spec: &Spec) {
    let mut n = 2;
    if !spec.summary.is_empty() {
        n += 1;
    }
    if !spec.complexity.is_empty() {
        n += 1;
    }
    if !spec.subcommands.is_empty() {
        n += 1;
    }
    out.map_len(n);
    if !spec.summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(spec.summary.as_bytes());
    }
    out.bulk(b"since");
    out.bulk(spec.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.group.name().as_bytes());
    if !spec.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(spec.complexity.as_bytes());
    }
    if !spec.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map_len(spec.subcommands.len());
        for sub in &spec.subcommands {
            out.bulk(sub.name.as_bytes());
            write_command_docs(out, sub);
        }
    }
}

fn sorted_specs(shared: &Shared) -> Vec<&Spec> {
    let mut v: Vec<&Spec> = shared.table.iter().map(|a| a.as_ref()).collect();
    v.sort_by_key(|sp| sp.name);
    v
}

fn command_all(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let specs = sorted_specs(s.shared);
    let out = &mut *s.data.out;
    out.array_len(specs.len());
    for sp in specs {
        write_command_info(out, sp);
    }
    Ok(())
}

fn command_count(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = s.shared.table.len();
    s.data.out.int(n as i64);
    Ok(())
}

/// A command or `parent|sub` by name.
fn find<'a>(shared: &'a Shared, name: &[u8]) -> Option<&'a Spec> {
    let lower = name.to_ascii_lowercase();
    match lower.iter().position(|&c| c == b'|') {
        None => shared.table.lookup(&lower).map(|a| a.as_ref()),
        Some(i) => {
            let parent = shared.table.lookup(&lower[..i])?;
            parent
                .subcommands
                .iter()
                .find(|sub| sub.name.as_bytes() == lower.as_slice())
        }
    }
}

fn command_info(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return command_all(s, args);
    }
    let found: Vec<Option<&Spec>> = args[2..].iter().map(|a| find(s.shared, a)).collect();
    let out = &mut *s.data.out;
    out.array_len(found.len());
    for f in found {
        match f {
            Some(sp) => write_command_info(out, sp),
            None => out.null_array(),
        }
    }
    Ok(())
}

fn command_docs(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let found: Vec<&Spec> = if args.len() == 2 {
        sorted_specs(s.shared)
    } else {
        args[2..].iter().filter_map(|a| find(s.shared, a)).collect()
    };
    let out = &mut *s.data.out;
    out.map_len(found.len());
    for sp in found {
        out.bulk(sp.name.as_bytes());
        write_command_docs(out, sp);
    }
    Ok(())
}

/// Resolves the command of COMMAND GETKEYS and returns its key positions.
fn getkeys_common<'a>(shared: &'a Shared, cmdargs: &[Bytes]) -> Result<(&'a Spec, Vec<usize>), CmdError> {
    let Some(top) = shared.table.lookup(&cmdargs[0]) else {
        return Err(CmdError::err("Invalid command specified"));
    };
    let mut spec: &Spec = top;
    if !top.subcommands.is_empty() && cmdargs.len() >= 2 {
        let sub = cmdargs[1].to_ascii_lowercase();
        match top.subcommands.iter().find(|x| {
            x.name
                .split_once('|')
                .is_some_and(|(_, n)| n.as_bytes() == sub.as_slice())
        }) {
            Some(x) => spec = x,
            None => return Err(CmdError::err("Invalid command specified")),
        }
    }
    if spec.first_key <= 0 && !spec.is_movable() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(cmdargs.len()) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let keys = spec.key_positions(cmdargs);
    if keys.is_empty() {
        if spec.has(NO_MANDATORY_KEYS) {
            return Ok((spec, keys));
        }
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok((spec, keys))
}

fn command_getkeys(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let (_, keys) = getkeys_common(s.shared, &args[2..])?;
    let out = &mut *s.data.out;
    out.array_len(keys.len());
    for k in keys {
        out.bulk(&args[2 + k]);
    }
    Ok(())
}

fn command_getkeysandflags(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let (spec, keys) = getkeys_common(s.shared, &args[2..])?;
    let flags = key_flags(spec);
    let out = &mut *s.data.out;
    out.array_len(keys.len());
    for k in keys {
        out.array_len(2);
        out.bulk(&args[2 + k]);
        out.set_len(flags.len());
        for f in flags {
            out.simple(f);
        }
    }
    Ok(())
}

fn command_list(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    enum Filter {
        All,
        Module,
        AclCat(String),
        Pattern(Bytes),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if is(&args[2], "filterby") => {
            if is(&args[3], "module") {
                Filter::Module
            } else if is(&args[3], "aclcat") {
                Filter::AclCat(format!(
                    "@{}",
                    String::from_utf8_lossy(&args[4]).to_ascii_lowercase()
                ))
            } else if is(&args[3], "pattern") {
                Filter::Pattern(args[4].clone())
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut names: Vec<&'static str> = Vec::new();
    for top in sorted_specs(s.shared) {
        for sp in std::iter::once(top).chain(top.subcommands.iter()) {
            let keep = match &filter {
                Filter::All => true,
                Filter::Module => false,
                Filter::AclCat(c) => sp.acl_categories().contains(&c.as_str()),
                Filter::Pattern(p) => glob_match(p, sp.name.as_bytes(), true),
            };
            if keep {
                names.push(sp.name);
            }
        }
    }
    let out = &mut *s.data.out;
    out.array_len(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        s.data.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_spec() -> Spec {
        cmd(
            "get",
            2,
            READONLY | FAST,
            (1, 1, 1),
            Group::String,
            Handler::Srv(command_count),
        )
    }

    #[test]
    fn command_info_get_matches_redis() {
        let mut out = ReplyWriter::default();
        write_command_info(&mut out, &get_spec());
        let expected = "*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n\
$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n\
$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
        assert_eq!(String::from_utf8_lossy(&out.buf), expected);
    }

    #[test]
    fn mset_lastkey_negative() {
        let sp = cmd(
            "mset",
            -3,
            WRITE | DENYOOM,
            (1, -1, 2),
            Group::String,
            Handler::Srv(command_count),
        );
        let mut out = ReplyWriter::default();
        write_command_info(&mut out, &sp);
        let s = String::from_utf8_lossy(&out.buf).into_owned();
        assert!(s.contains("$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n"));
        assert!(s.contains("+@write\r\n+@string\r\n+@slow\r\n"));
    }

    #[test]
    fn acl_categories_in_redis_order() {
        let del = cmd(
            "del",
            -2,
            WRITE,
            (1, -1, 1),
            Group::Generic,
            Handler::Srv(command_count),
        );
        assert_eq!(del.acl_categories(), ["@keyspace", "@write", "@slow"]);
        assert_eq!(get_spec().acl_categories(), ["@read", "@string", "@fast"]);
        let role = cmd(
            "role",
            1,
            NOSCRIPT | FAST,
            (0, 0, 0),
            Group::Server,
            Handler::Srv(command_count),
        )
        .acl(&["@admin", "@dangerous"]);
        assert_eq!(role.acl_categories(), ["@admin", "@fast", "@dangerous"]);
    }

    #[test]
    fn hidden_flags_and_movablekeys_order() {
        fn keys(_: &[Bytes]) -> Vec<usize> {
            Vec::new()
        }
        let sp = cmd(
            "x",
            -1,
            NOSCRIPT | MAY_REPLICATE | SENTINEL | ALLOW_BUSY,
            (0, 0, 0),
            Group::Server,
            Handler::Srv(command_count),
        )
        .keys_fn(keys);
        assert_eq!(reported_flags(&sp), ["noscript", "movablekeys", "allow_busy"]);
    }
}
