//! Server commands: keyspace-wide operations, introspection and administration.

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::ReplyWriter;

use super::*;
use crate::exec::{Action, SrvCtx};
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Server;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd("dbsize", 1, READONLY | FAST, (0, 0, 0), g, h(dbsize)),
        cmd("flushdb", -1, WRITE, (0, 0, 0), g, h(flushdb)).acl(&["@keyspace", "@dangerous"]),
        cmd("flushall", -1, WRITE, (0, 0, 0), g, h(flushall)).acl(&["@keyspace", "@dangerous"]),
        cmd("time", 1, LOADING | STALE | FAST, (0, 0, 0), g, h(time)).since("2.6.0"),
        cmd(
            "shutdown",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(shutdown),
        ),
        cmd(
            "monitor",
            1,
            ADMIN | NOSCRIPT | LOADING | STALE,
            (0, 0, 0),
            g,
            h(monitor),
        ),
    ]
}

/// Writes a HELP reply: a header line, the lines, and the closing HELP line, as Redis's
/// `addReplyHelp` does.
pub fn help_reply(out: &mut ReplyWriter, name: &str, lines: &[&str]) {
    out.array_len(lines.len() + 3);
    out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Print this help.");
}

/// CLIENT SETNAME / HELLO SETNAME: no spaces or newlines.
pub fn validate_client_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn dbsize(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = s.data.db().len();
    s.data.out.int(n as i64);
    Ok(())
}

fn flush_mode(args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "sync") || is(&args[1], "async") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let removed = s.data.db().clear();
    s.data.dirty += removed as u64 + 1;
    s.data.flushed = Some(Some(s.data.db));
    s.data.out.ok();
    Ok(())
}

fn flushall(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let mut removed = 0;
    for db in &mut s.data.ks.dbs {
        removed += db.clear();
    }
    s.data.dirty += removed as u64 + 1;
    s.data.flushed = Some(None);
    s.data.out.ok();
    Ok(())
}

fn time(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    s.data.out.array_len(2);
    s.data.out.bulk_int(now.as_secs() as i64);
    s.data.out.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}

fn shutdown(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut save = None;
    for a in &args[1..] {
        if is(a, "nosave") {
            save = Some(false);
        } else if is(a, "save") {
            save = Some(true);
        } else if is(a, "now") || is(a, "force") || is(a, "abort") {
            // No shutdown wait for replicas yet: NOW and FORCE change nothing.
        } else {
            return Err(CmdError::Syntax);
        }
    }
    tracing::warn!("User requested shutdown...");
    s.conn.action = Some(Action::Shutdown { save });
    Ok(())
}

fn monitor(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if !s.conn.monitor {
        s.conn.monitor = true;
        s.conn
            .handle
            .is_monitor
            .store(true, std::sync::atomic::Ordering::Relaxed);
        s.shared.monitors.lock().insert(s.conn.id, s.conn.push_tx.clone());
        s.shared
            .monitor_count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    s.data.out.ok();
    Ok(())
}
