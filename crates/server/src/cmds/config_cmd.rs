//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::{CmdError, CmdResult};

use super::*;
use crate::exec::SrvCtx;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Server;
    let h = |f: SrvFn| Handler::Srv(f);
    let adm = ADMIN | NOSCRIPT | LOADING | STALE;
    vec![cmd("config", -2, 0, (0, 0, 0), g, h(container))
        .since("2.0.0")
        .subs(vec![
            cmd("config|get", -3, adm, (0, 0, 0), g, h(config_get)).since("2.0.0"),
            cmd("config|help", 2, LOADING | STALE, (0, 0, 0), g, h(config_help)).since("5.0.0"),
            cmd("config|resetstat", 2, adm, (0, 0, 0), g, h(config_resetstat)).since("2.0.0"),
            cmd("config|rewrite", 2, adm, (0, 0, 0), g, h(config_rewrite)).since("2.8.0"),
            cmd("config|set", -4, adm, (0, 0, 0), g, h(config_set)).since("2.0.0"),
        ])]
}

/// The handler of a container called without a subcommand (never reached: the
/// dispatcher's arity check answers first).
pub(crate) fn container(_s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    Err(CmdError::WrongArity(
        String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
    ))
}

fn config_get(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = s.shared.config.read().get_matching_multi(&args[2..]);
    let out = &mut *s.data.out;
    out.map_len(pairs.len());
    for (k, v) in pairs {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if !(args.len() - 2).is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = args[2..]
        .chunks(2)
        .map(|c| (c[0].to_vec(), c[1].to_vec()))
        .collect();
    let local = s.conn.handle.addr.ip().is_loopback();
    let (changed, threshold, max_len, dir, latency) = {
        let mut c = s.shared.config.write();
        let changed = c.set_from(&pairs, local).map_err(CmdError::Raw)?;
        (
            changed,
            c.get_int("slowlog-log-slower-than"),
            c.get_int("slowlog-max-len"),
            c.dir().to_string(),
            c.get_int("latency-monitor-threshold"),
        )
    };
    for name in &changed {
        match name.as_str() {
            "slowlog-log-slower-than" => s.rest.slowlog_threshold_us = threshold,
            "min-replicas-to-write" | "min-replicas-max-lag" => {
                s.rest.replication.set_min_replicas(&s.shared.config.read());
            }
            "latency-monitor-threshold" => s.rest.latency_threshold_ms = latency,
            "slowlog-max-len" => {
                s.rest.slowlog_max_len = max_len.max(0) as usize;
                s.rest.slowlog.truncate(s.rest.slowlog_max_len);
            }
            "dir" => {
                if let Err(e) = std::env::set_current_dir(&dir) {
                    return Err(CmdError::err(format!(
                        "CONFIG SET failed (possibly related to argument 'dir') - {e}"
                    )));
                }
            }
            _ => {}
        }
    }
    s.data.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT: zeroes the statistics INFO reports (not the slow log).
pub fn reset_stats(s: &mut SrvCtx<'_>) {
    s.rest.cmdstats.clear();
    s.rest.errorstats.clear();
    s.rest.total_commands = 0;
    s.rest.used_memory_peak = 0;
    for db in &mut s.data.ks.dbs {
        db.hits = 0;
        db.misses = 0;
        db.expired_total = 0;
    }
    let st = &s.shared.stats;
    st.connections_received.store(0, Ordering::Relaxed);
    st.rejected_connections.store(0, Ordering::Relaxed);
    st.net_input_bytes.store(0, Ordering::Relaxed);
    st.net_output_bytes.store(0, Ordering::Relaxed);
    st.ops_per_sec.store(0, Ordering::Relaxed);
}

fn config_resetstat(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    reset_stats(s);
    s.data.out.ok();
    Ok(())
}

fn config_rewrite(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let r = s.shared.config.read().rewrite_config_file();
    match r {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            s.data.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            Err(CmdError::Raw(e))
        }
    }
}

fn config_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        s.data.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
