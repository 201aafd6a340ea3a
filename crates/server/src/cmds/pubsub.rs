//! Pub/sub: SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB. Subscriptions
//! live under the core lock; messages go to each subscriber's push channel and are
//! encoded by its connection in its own protocol version.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::{glob_match, ReplyWriter};

use super::*;
use crate::exec::{ConnState, SrvCtx};
use crate::shared::{CoreRest, PushMsg};
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::PubSub;
    let h = |f: SrvFn| Handler::Srv(f);
    let flags = PUBSUB | NOSCRIPT | LOADING | STALE;
    vec![
        cmd("subscribe", -2, flags, (0, 0, 0), g, h(subscribe)).since("2.0.0"),
        cmd("psubscribe", -2, flags, (0, 0, 0), g, h(psubscribe)).since("2.0.0"),
        cmd("unsubscribe", -1, flags, (0, 0, 0), g, h(unsubscribe)).since("2.0.0"),
        cmd("punsubscribe", -1, flags, (0, 0, 0), g, h(punsubscribe)).since("2.0.0"),
        cmd("ssubscribe", -2, flags, (1, -1, 1), g, h(ssubscribe)).since("7.0.0"),
        cmd("sunsubscribe", -1, flags, (1, -1, 1), g, h(sunsubscribe)).since("7.0.0"),
        cmd(
            "spublish",
            3,
            PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
            (1, 1, 1),
            g,
            h(spublish),
        )
        .since("7.0.0"),
        cmd(
            "publish",
            3,
            PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | SENTINEL,
            (0, 0, 0),
            g,
            h(publish),
        )
        .since("2.0.0"),
        cmd("pubsub", -2, 0, (0, 0, 0), g, h(pubsub_help))
            .since("2.8.0")
            .subs(vec![
                cmd(
                    "pubsub|channels",
                    -2,
                    PUBSUB | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(pubsub_channels),
                ),
                cmd(
                    "pubsub|numsub",
                    -2,
                    PUBSUB | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(pubsub_numsub),
                ),
                cmd(
                    "pubsub|numpat",
                    2,
                    PUBSUB | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(pubsub_numpat),
                ),
                cmd(
                    "pubsub|shardchannels",
                    -2,
                    PUBSUB | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(pubsub_shardchannels),
                )
                .since("7.0.0"),
                cmd(
                    "pubsub|shardnumsub",
                    -2,
                    PUBSUB | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(pubsub_shardnumsub),
                )
                .since("7.0.0"),
                cmd("pubsub|help", 2, LOADING | STALE, (0, 0, 0), g, h(pubsub_help)),
            ]),
    ]
}

fn reply_sub(out: &mut ReplyWriter, kind: &[u8], name: Option<&[u8]>, count: usize) {
    out.push_len(3);
    out.bulk(kind);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn track_pubsub_client(s: &SrvCtx<'_>, before: usize) {
    let after = s.conn.subs.count();
    if before == 0 && after > 0 {
        s.shared.stats.pubsub_clients.fetch_add(1, Ordering::Relaxed);
    } else if before > 0 && after == 0 {
        s.shared.stats.pubsub_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn subscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err(
            "SUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let before = s.conn.subs.count();
    for ch in &args[1..] {
        if s.conn.subs.channels.insert(ch.clone()) {
            s.rest
                .channels
                .entry(ch.clone())
                .or_default()
                .insert(s.conn.id, s.conn.push_tx.clone());
        }
        reply_sub(s.data.out, b"subscribe", Some(ch), s.conn.subs.count());
    }
    track_pubsub_client(s, before);
    Ok(())
}

fn psubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err(
            "PSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let before = s.conn.subs.count();
    for p in &args[1..] {
        if s.conn.subs.patterns.insert(p.clone()) {
            s.rest
                .patterns
                .entry(p.clone())
                .or_default()
                .insert(s.conn.id, s.conn.push_tx.clone());
        }
        reply_sub(s.data.out, b"psubscribe", Some(p), s.conn.subs.count());
    }
    track_pubsub_client(s, before);
    Ok(())
}

fn ssubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err(
            "SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let before = s.conn.subs.count();
    for ch in &args[1..] {
        if s.conn.subs.shard_channels.insert(ch.clone()) {
            s.rest
                .shard_channels
                .entry(ch.clone())
                .or_default()
                .insert(s.conn.id, s.conn.push_tx.clone());
        }
        reply_sub(
            s.data.out,
            b"ssubscribe",
            Some(ch),
            s.conn.subs.shard_channels.len(),
        );
    }
    track_pubsub_client(s, before);
    Ok(())
}

fn remove_shard_channel(rest: &mut CoreRest, conn: &mut ConnState, ch: &Bytes) -> bool {
    if !conn.subs.shard_channels.remove(ch) {
        return false;
    }
    if let Some(m) = rest.shard_channels.get_mut(ch) {
        m.remove(&conn.id);
        if m.is_empty() {
            rest.shard_channels.remove(ch);
        }
    }
    true
}

fn sunsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let before = s.conn.subs.count();
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        s.conn.subs.shard_channels.iter().cloned().collect()
    };
    if targets.is_empty() {
        reply_sub(
            s.data.out,
            b"sunsubscribe",
            None,
            s.conn.subs.shard_channels.len(),
        );
    }
    for ch in &targets {
        remove_shard_channel(s.rest, s.conn, ch);
        reply_sub(
            s.data.out,
            b"sunsubscribe",
            Some(ch),
            s.conn.subs.shard_channels.len(),
        );
    }
    track_pubsub_client(s, before);
    Ok(())
}

/// Delivers a sharded message to local SSUBSCRIBE subscribers.
pub fn publish_shard_local(rest: &CoreRest, channel: &Bytes, payload: &Bytes) -> usize {
    let mut n = 0;
    if let Some(subs) = rest.shard_channels.get(channel) {
        for tx in subs.values() {
            if tx
                .send(PushMsg::ShardMessage {
                    channel: channel.clone(),
                    payload: payload.clone(),
                })
                .is_ok()
            {
                n += 1;
            }
        }
    }
    n
}

fn spublish(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let n = publish_shard_local(s.rest, &args[1], &args[2]);
    if let Some(shell) = s.shared.cluster.get() {
        let mut st = shell.state.lock();
        for e in st.publish_message(&args[1], &args[2], true) {
            if let slotkv_cluster::state::Effect::Send { node, msg } = e {
                shell.send(node, slotkv_cluster::message::encode(&msg));
            }
        }
    }
    s.data.out.int(n as i64);
    Ok(())
}

fn remove_channel(rest: &mut CoreRest, conn: &mut ConnState, ch: &Bytes) -> bool {
    if !conn.subs.channels.remove(ch) {
        return false;
    }
    if let Some(m) = rest.channels.get_mut(ch) {
        m.remove(&conn.id);
        if m.is_empty() {
            rest.channels.remove(ch);
        }
    }
    true
}

fn remove_pattern(rest: &mut CoreRest, conn: &mut ConnState, p: &Bytes) -> bool {
    if !conn.subs.patterns.remove(p) {
        return false;
    }
    if let Some(m) = rest.patterns.get_mut(p) {
        m.remove(&conn.id);
        if m.is_empty() {
            rest.patterns.remove(p);
        }
    }
    true
}

fn unsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let before = s.conn.subs.count();
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        s.conn.subs.channels.iter().cloned().collect()
    };
    if targets.is_empty() {
        reply_sub(s.data.out, b"unsubscribe", None, s.conn.subs.count());
    }
    for ch in &targets {
        remove_channel(s.rest, s.conn, ch);
        reply_sub(s.data.out, b"unsubscribe", Some(ch), s.conn.subs.count());
    }
    track_pubsub_client(s, before);
    Ok(())
}

fn punsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let before = s.conn.subs.count();
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        s.conn.subs.patterns.iter().cloned().collect()
    };
    if targets.is_empty() {
        reply_sub(s.data.out, b"punsubscribe", None, s.conn.subs.count());
    }
    for p in &targets {
        remove_pattern(s.rest, s.conn, p);
        reply_sub(s.data.out, b"punsubscribe", Some(p), s.conn.subs.count());
    }
    track_pubsub_client(s, before);
    Ok(())
}

/// Drops every subscription of a connection (disconnect, RESET).
pub fn unsubscribe_all(rest: &mut CoreRest, conn: &mut ConnState) {
    let chans: Vec<Bytes> = conn.subs.channels.iter().cloned().collect();
    for ch in &chans {
        remove_channel(rest, conn, ch);
    }
    let pats: Vec<Bytes> = conn.subs.patterns.iter().cloned().collect();
    for p in &pats {
        remove_pattern(rest, conn, p);
    }
    let shard: Vec<Bytes> = conn.subs.shard_channels.iter().cloned().collect();
    for ch in &shard {
        remove_shard_channel(rest, conn, ch);
    }
}

/// Delivers a message to local subscribers; returns how many received it.
pub fn publish_local(rest: &CoreRest, channel: &Bytes, payload: &Bytes) -> usize {
    let mut n = 0;
    if let Some(subs) = rest.channels.get(channel) {
        for tx in subs.values() {
            if tx
                .send(PushMsg::Message {
                    pattern: None,
                    channel: channel.clone(),
                    payload: payload.clone(),
                })
                .is_ok()
            {
                n += 1;
            }
        }
    }
    for (pat, subs) in &rest.patterns {
        if glob_match(pat, channel, false) {
            for tx in subs.values() {
                if tx
                    .send(PushMsg::Message {
                        pattern: Some(pat.clone()),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    })
                    .is_ok()
                {
                    n += 1;
                }
            }
        }
    }
    n
}

fn publish(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let n = publish_local(s.rest, &args[1], &args[2]);
    if let Some(shell) = s.shared.cluster.get() {
        // In a cluster, every node's subscribers get the message, through the bus.
        let mut st = shell.state.lock();
        let fx = st.publish_message(&args[1], &args[2], false);
        for e in fx {
            if let slotkv_cluster::state::Effect::Send { node, msg } = e {
                shell.send(node, slotkv_cluster::message::encode(&msg));
            }
        }
    }
    s.data.out.int(n as i64);
    Ok(())
}

fn pubsub_channels(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity("pubsub|channels".into()));
    }
    let pat = args.get(2);
    let list: Vec<&Bytes> = s
        .rest
        .channels
        .keys()
        .filter(|c| pat.is_none_or(|p| glob_match(p, c, false)))
        .collect();
    s.data.out.array_len(list.len());
    for c in list {
        s.data.out.bulk(c);
    }
    Ok(())
}

fn pubsub_numsub(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    s.data.out.map_len(args.len() - 2);
    for ch in &args[2..] {
        s.data.out.bulk(ch);
        s.data
            .out
            .int(s.rest.channels.get(ch).map_or(0, |m| m.len()) as i64);
    }
    Ok(())
}

fn pubsub_numpat(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(s.rest.patterns.len() as i64);
    Ok(())
}

fn pubsub_shardchannels(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity("pubsub|shardchannels".into()));
    }
    let pat = args.get(2);
    let list: Vec<&Bytes> = s
        .rest
        .shard_channels
        .keys()
        .filter(|c| pat.is_none_or(|p| glob_match(p, c, false)))
        .collect();
    s.data.out.array_len(list.len());
    for c in list {
        s.data.out.bulk(c);
    }
    Ok(())
}

fn pubsub_shardnumsub(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    s.data.out.map_len(args.len() - 2);
    for ch in &args[2..] {
        s.data.out.bulk(ch);
        s.data
            .out
            .int(s.rest.shard_channels.get(ch).map_or(0, |m| m.len()) as i64);
    }
    Ok(())
}

fn pubsub_help(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() != 2 || !is(&args[1], "help") {
        return Err(CmdError::UnknownSubcommand(
            String::from_utf8_lossy(args.get(1).map_or(&b""[..], |a| a)).into_owned(),
            "PUBSUB".into(),
        ));
    }
    super::server::help_reply(
        s.data.out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
