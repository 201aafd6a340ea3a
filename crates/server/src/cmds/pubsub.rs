//! Pub/sub: SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB. Subscriptions
//! live under the core lock; messages go to each subscriber's push channel and are
//! encoded by its connection in its own protocol version.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::{glob_match, ReplyWriter};

use super::*;
use crate::exec::{ConnState, SrvCtx};
use crate::shared::{CoreRest, PushMsg, PushSender};
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

/// The three subscription namespaces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];

    /// The reply words (`subscribe`, `unsubscribe`) and the command name for errors.
    fn words(self) -> (&'static [u8], &'static [u8], &'static str) {
        match self {
            Kind::Channel => (b"subscribe", b"unsubscribe", "SUBSCRIBE"),
            Kind::Pattern => (b"psubscribe", b"punsubscribe", "PSUBSCRIBE"),
            Kind::Shard => (b"ssubscribe", b"sunsubscribe", "SSUBSCRIBE"),
        }
    }

    /// The connection's set and the server's registry for this namespace.
    fn registries<'a>(
        self,
        conn: &'a mut ConnState,
        rest: &'a mut CoreRest,
    ) -> (
        &'a mut HashSet<Bytes>,
        &'a mut HashMap<Bytes, HashMap<u64, PushSender>>,
    ) {
        match self {
            Kind::Channel => (&mut conn.subs.channels, &mut rest.channels),
            Kind::Pattern => (&mut conn.subs.patterns, &mut rest.patterns),
            Kind::Shard => (&mut conn.subs.shard_channels, &mut rest.shard_channels),
        }
    }

    /// The count Redis puts in the reply: shard subscriptions are counted on their own,
    /// channels and patterns together.
    fn count(self, conn: &ConnState) -> usize {
        match self {
            Kind::Shard => conn.subs.shard_channels.len(),
            _ => conn.subs.channels.len() + conn.subs.patterns.len(),
        }
    }
}

fn subscribe_kind(s: &mut SrvCtx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let (word, _, name) = kind.words();
    if s.conn.multi.is_some() {
        return Err(CmdError::err(format!(
            "{name} isn't allowed for a DENY BLOCKING client"
        )));
    }
    let before = s.conn.subs.count();
    for ch in &args[1..] {
        let (id, tx) = (s.conn.id, s.conn.push_tx.clone());
        let (mine, registry) = kind.registries(s.conn, s.rest);
        if mine.insert(ch.clone()) {
            registry.entry(ch.clone()).or_default().insert(id, tx);
        }
        reply_sub(s.data.out, word, Some(ch), kind.count(s.conn));
    }
    track_pubsub_client(s, before);
    Ok(())
}

/// Drops one subscription; returns whether it existed.
fn remove_one(rest: &mut CoreRest, conn: &mut ConnState, kind: Kind, name: &Bytes) -> bool {
    let id = conn.id;
    let (mine, registry) = kind.registries(conn, rest);
    if !mine.remove(name) {
        return false;
    }
    if let Some(m) = registry.get_mut(name) {
        m.remove(&id);
        if m.is_empty() {
            registry.remove(name);
        }
    }
    true
}

fn unsubscribe_kind(s: &mut SrvCtx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let (_, word, _) = kind.words();
    let before = s.conn.subs.count();
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        kind.registries(s.conn, s.rest).0.iter().cloned().collect()
    };
    if targets.is_empty() {
        reply_sub(s.data.out, word, None, kind.count(s.conn));
    }
    for ch in &targets {
        remove_one(s.rest, s.conn, kind, ch);
        reply_sub(s.data.out, word, Some(ch), kind.count(s.conn));
    }
    track_pubsub_client(s, before);
    Ok(())
}

fn subscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_kind(s, args, Kind::Channel)
}

fn psubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_kind(s, args, Kind::Pattern)
}

fn ssubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_kind(s, args, Kind::Shard)
}

fn unsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(s, args, Kind::Channel)
}

fn punsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(s, args, Kind::Pattern)
}

fn sunsubscribe(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(s, args, Kind::Shard)
}

/// Drops every subscription of a connection (disconnect, RESET).
pub fn unsubscribe_all(rest: &mut CoreRest, conn: &mut ConnState) {
    for kind in Kind::ALL {
        let names: Vec<Bytes> = kind.registries(conn, rest).0.iter().cloned().collect();
        for name in &names {
            remove_one(rest, conn, kind, name);
        }
    }
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
    send_to_bus(s, &args[1], &args[2], true);
    s.data.out.int(n as i64);
    Ok(())
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
    send_to_bus(s, &args[1], &args[2], false);
    s.data.out.int(n as i64);
    Ok(())
}

/// PUBSUB CHANNELS / SHARDCHANNELS: the active names of a registry matching the pattern.
fn list_channels(
    out: &mut ReplyWriter,
    registry: &HashMap<Bytes, HashMap<u64, PushSender>>,
    args: &[Bytes],
    name: &str,
) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(name.into()));
    }
    let pat = args.get(2);
    let list: Vec<&Bytes> = registry
        .keys()
        .filter(|c| pat.is_none_or(|p| glob_match(p, c, false)))
        .collect();
    out.array_len(list.len());
    for c in list {
        out.bulk(c);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB: subscriber counts of the named channels of a registry.
fn count_subscribers(
    out: &mut ReplyWriter,
    registry: &HashMap<Bytes, HashMap<u64, PushSender>>,
    args: &[Bytes],
) {
    out.map_len(args.len() - 2);
    for ch in &args[2..] {
        out.bulk(ch);
        out.int(registry.get(ch).map_or(0, |m| m.len()) as i64);
    }
}

/// In a cluster, other nodes' subscribers get the message through the bus: every node for
/// PUBLISH, the rest of this node's shard for SPUBLISH.
fn send_to_bus(s: &SrvCtx<'_>, channel: &[u8], message: &[u8], shard: bool) {
    if let Some(shell) = s.shared.cluster.get() {
        let mut st = shell.state.lock();
        for e in st.publish_message(channel, message, shard) {
            if let slotkv_cluster::state::Effect::Send { node, msg } = e {
                shell.send(node, slotkv_cluster::message::encode(&msg));
            }
        }
    }
}

fn pubsub_channels(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(s.data.out, &s.rest.channels, args, "pubsub|channels")
}

fn pubsub_numsub(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(s.data.out, &s.rest.channels, args);
    Ok(())
}

fn pubsub_numpat(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(s.rest.patterns.len() as i64);
    Ok(())
}

fn pubsub_shardchannels(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(s.data.out, &s.rest.shard_channels, args, "pubsub|shardchannels")
}

fn pubsub_shardnumsub(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(s.data.out, &s.rest.shard_channels, args);
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
