//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH. Queued commands run in one go under
//! the core lock, so nothing interleaves with them; WATCH flags are set by
//! `exec::signal_key` when a watched key is modified.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::{CmdError, CmdResult};

use super::*;
use crate::exec::{execute, ConnState, MultiState, SrvCtx};
use crate::shared::CoreRest;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Transactions;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd(
            "multi",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(multi),
        )
        .since("1.2.0"),
        cmd(
            "exec",
            1,
            NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
            (0, 0, 0),
            g,
            h(exec),
        )
        .since("1.2.0"),
        cmd(
            "discard",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(discard),
        )
        .since("2.0.0"),
        cmd(
            "watch",
            -2,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (1, -1, 1),
            g,
            h(watch),
        )
        .since("2.2.0"),
        cmd(
            "unwatch",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(unwatch),
        )
        .since("2.2.0"),
    ]
}

fn multi(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    s.conn.multi = Some(MultiState::default());
    s.data.out.ok();
    Ok(())
}

fn discard(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    if s.conn.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    unwatch_all(s.rest, s.conn);
    s.data.out.ok();
    Ok(())
}

fn exec(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(state) = s.conn.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if state.errored {
        unwatch_all(s.rest, s.conn);
        return Err(CmdError::Raw(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let dirty = s.conn.watch_dirty.load(Ordering::SeqCst);
    unwatch_all(s.rest, s.conn);
    if dirty {
        s.data.out.null_array();
        return Ok(());
    }
    s.data.out.array_len(state.queued.len());
    let now = s.data.now_ms;
    s.rest.repl.begin_multi();
    for args in &state.queued {
        match s.shared.table.resolve(args) {
            Ok(spec) => execute(
                &mut *s.data.ks,
                &mut *s.rest,
                s.conn,
                s.shared,
                &mut *s.data.out,
                spec,
                args,
                now,
                false,
            ),
            Err(e) => crate::exec::reply_error(s.rest, s.data.out, &e),
        }
    }
    s.rest.repl.end_multi();
    s.data.db = s.conn.db;
    Ok(())
}

fn watch(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = s.conn.db;
    for key in &args[1..] {
        let k: slotkv_keyspace::Key = key.as_ref().into();
        if s.conn.watched.iter().any(|(d, w)| *d == db && *w == k) {
            continue;
        }
        s.rest
            .watched
            .entry((db, k.clone()))
            .or_default()
            .push((s.conn.id, s.conn.watch_dirty.clone()));
        s.conn.watched.push((db, k));
    }
    s.data.out.ok();
    Ok(())
}

fn unwatch(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    unwatch_all(s.rest, s.conn);
    s.data.out.ok();
    Ok(())
}

/// Drops every WATCH of a connection and clears its dirty flag.
pub fn unwatch_all(rest: &mut CoreRest, conn: &mut ConnState) {
    for key in conn.watched.drain(..) {
        if let Some(list) = rest.watched.get_mut(&key) {
            list.retain(|(id, _)| *id != conn.id);
            if list.is_empty() {
                rest.watched.remove(&key);
            }
        }
    }
    conn.watch_dirty.store(false, Ordering::SeqCst);
}
