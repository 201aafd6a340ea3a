//! Scripting entry points. Lua scripting is not implemented yet: EVAL and friends answer
//! with a clear error; FUNCTION works for the empty library set (enough for
//! `redis-cli --cluster add-node`, which copies functions between nodes).

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};

use super::*;
use crate::exec::SrvCtx;
use crate::table::{Handler, Spec, SrvFn};

fn eval_keys(args: &[Bytes]) -> Vec<usize> {
    slotkv_commands::spec::keys_numkeys_at(args, 2)
}

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Scripting;
    let h = |f: SrvFn| Handler::Srv(f);
    let eval_flags = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE;
    vec![
        cmd("eval", -3, eval_flags, (0, 0, 0), g, h(no_scripting))
            .keys_fn(eval_keys)
            .since("2.6.0"),
        cmd(
            "eval_ro",
            -3,
            eval_flags | READONLY,
            (0, 0, 0),
            g,
            h(no_scripting),
        )
        .keys_fn(eval_keys)
        .since("7.0.0"),
        cmd("evalsha", -3, eval_flags, (0, 0, 0), g, h(no_scripting))
            .keys_fn(eval_keys)
            .since("2.6.0"),
        cmd(
            "evalsha_ro",
            -3,
            eval_flags | READONLY,
            (0, 0, 0),
            g,
            h(no_scripting),
        )
        .keys_fn(eval_keys)
        .since("7.0.0"),
        cmd("fcall", -3, eval_flags, (0, 0, 0), g, h(no_function))
            .keys_fn(eval_keys)
            .since("7.0.0"),
        cmd(
            "fcall_ro",
            -3,
            eval_flags | READONLY,
            (0, 0, 0),
            g,
            h(no_function),
        )
        .keys_fn(eval_keys)
        .since("7.0.0"),
        cmd("script", -2, 0, (0, 0, 0), g, h(script_help))
            .since("2.6.0")
            .subs(vec![
                cmd("script|exists", -3, NOSCRIPT, (0, 0, 0), g, h(script_exists)),
                cmd("script|flush", -2, NOSCRIPT, (0, 0, 0), g, h(ok_reply)),
                cmd("script|load", 3, NOSCRIPT | STALE, (0, 0, 0), g, h(no_scripting)),
                cmd(
                    "script|kill",
                    2,
                    NOSCRIPT | ALLOW_BUSY,
                    (0, 0, 0),
                    g,
                    h(script_kill),
                ),
                cmd("script|help", 2, LOADING | STALE, (0, 0, 0), g, h(script_help)),
            ]),
        cmd("function", -2, 0, (0, 0, 0), g, h(function_help))
            .since("7.0.0")
            .subs(vec![
                cmd("function|list", -2, NOSCRIPT, (0, 0, 0), g, h(function_list)),
                cmd("function|dump", 2, NOSCRIPT, (0, 0, 0), g, h(function_dump)),
                cmd(
                    "function|restore",
                    -3,
                    NOSCRIPT | WRITE | DENYOOM,
                    (0, 0, 0),
                    g,
                    h(function_restore),
                ),
                cmd("function|flush", -2, NOSCRIPT | WRITE, (0, 0, 0), g, h(ok_reply)),
                cmd(
                    "function|delete",
                    3,
                    NOSCRIPT | WRITE,
                    (0, 0, 0),
                    g,
                    h(function_delete),
                ),
                cmd(
                    "function|load",
                    -3,
                    NOSCRIPT | WRITE | DENYOOM,
                    (0, 0, 0),
                    g,
                    h(no_function),
                ),
                cmd(
                    "function|stats",
                    2,
                    NOSCRIPT | ALLOW_BUSY,
                    (0, 0, 0),
                    g,
                    h(function_stats),
                ),
                cmd(
                    "function|kill",
                    2,
                    NOSCRIPT | ALLOW_BUSY,
                    (0, 0, 0),
                    g,
                    h(script_kill),
                ),
                cmd(
                    "function|help",
                    2,
                    LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(function_help),
                ),
            ]),
    ]
}

fn no_scripting(_s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::err("Lua scripting is not supported by this server yet"))
}

fn no_function(_s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[0], "fcall") || is(&args[0], "fcall_ro") {
        return Err(CmdError::err("Function not found"));
    }
    Err(CmdError::err(
        "Lua functions are not supported by this server yet",
    ))
}

fn ok_reply(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.ok();
    Ok(())
}

fn script_exists(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    s.data.out.array_len(args.len() - 2);
    for _ in &args[2..] {
        s.data.out.int(0);
    }
    Ok(())
}

fn script_kill(_s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::Raw("NOTBUSY No scripts in execution right now.".into()))
}

fn script_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        s.data.out,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "FLUSH [ASYNC|SYNC]",
            "KILL",
            "LOAD <script>",
        ],
    );
    Ok(())
}

fn function_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        s.data.out,
        "FUNCTION",
        &[
            "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
            "DUMP",
            "RESTORE <payload> [FLUSH|APPEND|REPLACE]",
            "FLUSH [ASYNC|SYNC]",
        ],
    );
    Ok(())
}

fn function_list(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "withcode") {
            i += 1;
        } else if is(&args[i], "libraryname") && i + 1 < args.len() {
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    s.data.out.array_len(0);
    Ok(())
}

/// FUNCTION DUMP of no libraries: no body, RDB version 10, and the CRC64 of those two
/// bytes (the trailer every DUMP payload has).
const EMPTY_FUNCTIONS_PAYLOAD: [u8; 10] = [0x0a, 0x00, 0x5d, 0x9b, 0x5c, 0x40, 0x0f, 0x7f, 0xa2, 0xda];

/// The payload of an empty function library set: an empty body followed by the RDB
/// version and CRC64 trailer, as DUMP payloads are.
fn function_dump(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.bulk(&EMPTY_FUNCTIONS_PAYLOAD);
    Ok(())
}

fn function_restore(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4
        || (args.len() == 4 && !(is(&args[3], "flush") || is(&args[3], "append") || is(&args[3], "replace")))
    {
        return Err(CmdError::Syntax);
    }
    let payload = &args[2];
    if payload.len() < 10 || payload[payload.len() - 10] > 10 {
        return Err(CmdError::err("DUMP payload version or checksum are wrong"));
    }
    if payload[..] != EMPTY_FUNCTIONS_PAYLOAD[..] {
        return Err(CmdError::err(
            "Lua functions are not supported by this server yet",
        ));
    }
    s.data.out.ok();
    Ok(())
}

fn function_delete(_s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::err("Library not found"))
}

fn function_stats(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let out = &mut *s.data.out;
    out.map_len(2);
    out.bulk(b"running_script");
    out.null();
    out.bulk(b"engines");
    out.map_len(1);
    out.bulk(b"LUA");
    out.map_len(2);
    out.bulk(b"libraries_count");
    out.int(0);
    out.bulk(b"functions_count");
    out.int(0);
    Ok(())
}
