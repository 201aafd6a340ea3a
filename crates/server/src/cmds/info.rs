//! INFO: the server's state as `field:value` lines grouped in `# Section`s, with Redis
//! 7.0's field names and order.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::CmdResult;

use super::*;
use crate::exec::SrvCtx;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let h = |f: SrvFn| Handler::Srv(f);
    vec![cmd(
        "info",
        -1,
        LOADING | STALE | SENTINEL,
        (0, 0, 0),
        Group::Server,
        h(info),
    )
    .acl(&["@dangerous"])
    .summary("Get information and statistics about the server")
    .complexity("O(1)")]
}

/// Every section, in output order.
pub const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// The sections `INFO` and `INFO default` show.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections a list of INFO arguments selects, in output order.
pub fn select_sections(args: &[Bytes]) -> Vec<&'static str> {
    let mut want = [false; SECTIONS.len()];
    let mark = |names: &[&str], want: &mut [bool; SECTIONS.len()]| {
        for (i, s) in SECTIONS.iter().enumerate() {
            if names.contains(s) {
                want[i] = true;
            }
        }
    };
    if args.is_empty() {
        mark(DEFAULT_SECTIONS, &mut want);
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => mark(DEFAULT_SECTIONS, &mut want),
            "all" | "everything" => mark(SECTIONS, &mut want),
            other => mark(&[other], &mut want),
        }
    }
    SECTIONS
        .iter()
        .zip(want)
        .filter(|(_, w)| *w)
        .map(|(s, _)| *s)
        .collect()
}

fn info(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sections = select_sections(&args[1..]);
    let text = generate(s, &sections);
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// Resident set size of this process in bytes (Linux), 0 if unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// (system, user) CPU seconds of this process, from /proc/self/stat.
fn cpu_times() -> (f64, f64) {
    let Ok(t) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which is parenthesised and may hold spaces).
    let Some(rest) = t.rfind(')').map(|i| &t[i + 1..]) else {
        return (0.0, 0.0);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(12), tick(11))
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}

fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// Redis's `bytesToHuman`: B, K, M, G, T, P with two decimals.
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const UNITS: &[(f64, &str)] = &[
        (1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0, "P"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024.0 * 1024.0 * 1024.0, "G"),
        (1024.0 * 1024.0, "M"),
        (1024.0, "K"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (size, unit) in UNITS {
        if d >= *size || *unit == "K" {
            return format!("{:.2}{unit}", d / size);
        }
    }
    format!("{n}B")
}

/// One `cmdstat_` line.
pub fn cmdstat_line(name: &str, st: &crate::shared::CmdStats) -> String {
    let per = if st.calls == 0 {
        0.0
    } else {
        st.usec as f64 / st.calls as f64
    };
    format!(
        "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
        st.calls, st.usec, st.rejected, st.failed
    )
}

/// The upper bound (µs) of the histogram bucket holding the `q`th percentile.
pub fn percentile_usec(hist: &[u64], q: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let want = ((q / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return (1u64 << i) as f64;
        }
    }
    (1u64 << (hist.len() - 1)) as f64
}

/// Builds the INFO text for the given sections (already in output order).
pub fn generate(s: &mut SrvCtx<'_>, sections: &[&str]) -> String {
    let mut out = String::with_capacity(4096);
    for (i, sec) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        section(s, sec, &mut out);
    }
    out
}

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

fn section(s: &mut SrvCtx<'_>, sec: &str, o: &mut String) {
    let shared = s.shared;
    let now_ms = crate::log::now_ms();
    match sec {
        "server" => {
            let c = shared.config.read();
            let cluster = c.get_bool("cluster-enabled");
            let hz = c.get_int("hz");
            let config_file = c
                .config_file()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            drop(c);
            let uptime = shared.uptime_s();
            o.push_str("# Server\r\n");
            line!(o, "redis_version:{}", crate::REDIS_COMPAT_VERSION);
            line!(o, "slotkv_version:{}", crate::SLOTKV_VERSION);
            line!(o, "redis_git_sha1:00000000");
            line!(o, "redis_git_dirty:0");
            line!(o, "redis_build_id:0");
            line!(o, "redis_mode:{}", if cluster { "cluster" } else { "standalone" });
            line!(o, "os:{}", os_name());
            line!(o, "arch_bits:{}", usize::BITS);
            line!(o, "monotonic_clock:POSIX clock_gettime");
            line!(o, "multiplexing_api:epoll");
            line!(o, "atomicvar_api:c11-builtin");
            line!(o, "gcc_version:0.0.0");
            line!(o, "process_id:{}", std::process::id());
            line!(o, "process_supervised:no");
            line!(o, "run_id:{}", shared.run_id);
            line!(o, "tcp_port:{}", shared.port);
            line!(o, "server_time_usec:{}", now_ms * 1000);
            line!(o, "uptime_in_seconds:{uptime}");
            line!(o, "uptime_in_days:{}", uptime / 86400);
            line!(o, "hz:{hz}");
            line!(o, "configured_hz:{hz}");
            line!(o, "lru_clock:{}", (now_ms / 1000) & ((1 << 24) - 1));
            line!(o, "executable:{}", shared.executable);
            line!(o, "config_file:{config_file}");
            line!(o, "io_threads_active:0");
        }
        "clients" => {
            let clients = shared.client_list();
            let max_qbuf = clients.iter().map(|c| c.info.lock().qbuf).max().unwrap_or(0);
            let maxclients = shared.config.read().get_int("maxclients");
            o.push_str("# Clients\r\n");
            line!(
                o,
                "connected_clients:{}",
                shared.stats.connected_clients.load(Ordering::Relaxed)
            );
            line!(o, "cluster_connections:0");
            line!(o, "maxclients:{maxclients}");
            line!(o, "client_recent_max_input_buffer:{max_qbuf}");
            line!(o, "client_recent_max_output_buffer:0");
            line!(
                o,
                "blocked_clients:{}",
                shared.stats.blocked_clients.load(Ordering::Relaxed)
            );
            line!(o, "tracking_clients:0");
            line!(o, "clients_in_timeout_table:0");
        }
        "memory" => {
            let rss = rss_bytes();
            let used = rss;
            if used > s.rest.used_memory_peak {
                s.rest.used_memory_peak = used;
            }
            let peak = s.rest.used_memory_peak.max(1);
            let (maxmemory, policy) = {
                let c = shared.config.read();
                (
                    c.get_int("maxmemory").max(0) as u64,
                    c.get_str("maxmemory-policy"),
                )
            };
            let sysmem = total_system_memory();
            o.push_str("# Memory\r\n");
            line!(o, "used_memory:{used}");
            line!(o, "used_memory_human:{}", bytes_to_human(used));
            line!(o, "used_memory_rss:{rss}");
            line!(o, "used_memory_rss_human:{}", bytes_to_human(rss));
            line!(o, "used_memory_peak:{peak}");
            line!(o, "used_memory_peak_human:{}", bytes_to_human(peak));
            line!(
                o,
                "used_memory_peak_perc:{:.2}%",
                used as f64 * 100.0 / peak as f64
            );
            line!(o, "used_memory_overhead:0");
            line!(o, "used_memory_startup:0");
            line!(o, "used_memory_dataset:{used}");
            line!(o, "used_memory_dataset_perc:100.00%");
            line!(o, "allocator_allocated:{used}");
            line!(o, "allocator_active:{used}");
            line!(o, "allocator_resident:{rss}");
            line!(o, "total_system_memory:{sysmem}");
            line!(o, "total_system_memory_human:{}", bytes_to_human(sysmem));
            line!(o, "used_memory_lua:0");
            line!(o, "used_memory_vm_eval:0");
            line!(o, "used_memory_lua_human:0B");
            line!(o, "used_memory_scripts_eval:0");
            line!(o, "number_of_cached_scripts:0");
            line!(o, "number_of_functions:0");
            line!(o, "number_of_libraries:0");
            line!(o, "used_memory_vm_functions:0");
            line!(o, "used_memory_vm_total:0");
            line!(o, "used_memory_vm_total_human:0B");
            line!(o, "used_memory_functions:0");
            line!(o, "used_memory_scripts:0");
            line!(o, "used_memory_scripts_human:0B");
            line!(o, "maxmemory:{maxmemory}");
            line!(o, "maxmemory_human:{}", bytes_to_human(maxmemory));
            line!(o, "maxmemory_policy:{policy}");
            line!(o, "allocator_frag_ratio:1.00");
            line!(o, "allocator_frag_bytes:0");
            line!(o, "allocator_rss_ratio:1.00");
            line!(o, "allocator_rss_bytes:0");
            line!(o, "rss_overhead_ratio:1.00");
            line!(o, "rss_overhead_bytes:0");
            line!(o, "mem_fragmentation_ratio:1.00");
            line!(o, "mem_fragmentation_bytes:0");
            line!(o, "mem_not_counted_for_evict:0");
            line!(o, "mem_replication_backlog:0");
            line!(o, "mem_total_replication_buffers:0");
            line!(o, "mem_clients_slaves:0");
            line!(o, "mem_clients_normal:0");
            line!(o, "mem_cluster_links:0");
            line!(o, "mem_aof_buffer:0");
            line!(o, "mem_allocator:libc");
            line!(o, "active_defrag_running:0");
            line!(o, "lazyfree_pending_objects:0");
            line!(o, "lazyfreed_objects:0");
        }
        "persistence" => {
            let aof = shared.config.read().get_bool("appendonly");
            o.push_str("# Persistence\r\n");
            line!(o, "loading:0");
            line!(o, "async_loading:0");
            line!(o, "current_cow_peak:0");
            line!(o, "current_cow_size:0");
            line!(o, "current_cow_size_age:0");
            line!(o, "current_fork_perc:0.00");
            line!(o, "current_save_keys_processed:0");
            line!(o, "current_save_keys_total:0");
            let now_s = crate::log::now_ms() / 1000;
            let save = &s.rest.save;
            let aof_state = &s.rest.aof;
            let ok = |b: bool| if b { "ok" } else { "err" };
            line!(o, "rdb_changes_since_last_save:{}", s.rest.dirty);
            line!(o, "rdb_bgsave_in_progress:{}", i32::from(save.child.is_some()));
            line!(o, "rdb_last_save_time:{}", s.rest.last_save_s);
            line!(o, "rdb_last_bgsave_status:{}", ok(save.last_bgsave_ok));
            line!(
                o,
                "rdb_last_bgsave_time_sec:{}",
                if save.saves_total == 0 {
                    -1
                } else {
                    save.last_bgsave_duration_s
                }
            );
            line!(
                o,
                "rdb_current_bgsave_time_sec:{}",
                save.child.map_or(-1, |(_, t, _)| now_s - t / 1000)
            );
            line!(o, "rdb_saves:{}", save.saves_total);
            line!(o, "rdb_last_cow_size:0");
            line!(o, "rdb_last_load_keys_expired:0");
            line!(o, "rdb_last_load_keys_loaded:0");
            line!(o, "aof_enabled:{}", i32::from(aof));
            line!(
                o,
                "aof_rewrite_in_progress:{}",
                i32::from(aof_state.rewrite.is_some())
            );
            line!(o, "aof_rewrite_scheduled:0");
            line!(o, "aof_last_rewrite_time_sec:-1");
            line!(
                o,
                "aof_current_rewrite_time_sec:{}",
                aof_state.rewrite.as_ref().map_or(-1, |r| now_s - r.3 / 1000)
            );
            line!(
                o,
                "aof_last_bgrewrite_status:{}",
                ok(aof_state.last_rewrite_ok || !aof)
            );
            line!(o, "aof_rewrites:{}", aof_state.rewrites);
            line!(o, "aof_rewrites_consecutive_failures:0");
            line!(
                o,
                "aof_last_write_status:{}",
                ok(aof_state.last_write_error.is_none())
            );
            line!(o, "aof_last_cow_size:0");
            line!(o, "module_fork_in_progress:0");
            if aof {
                line!(
                    o,
                    "aof_current_size:{}",
                    aof_state.current_size + aof_state.base_size
                );
                line!(o, "aof_base_size:{}", aof_state.base_size);
                line!(o, "aof_pending_rewrite:0");
                line!(o, "aof_buffer_length:0");
                line!(o, "aof_pending_bio_fsync:0");
                line!(o, "aof_delayed_fsync:0");
            }
            line!(o, "module_fork_last_cow_size:0");
        }
        "stats" => {
            let st = &shared.stats;
            let dbs = &s.data.ks.dbs;
            let expired: u64 = dbs.iter().map(|d| d.expired_total).sum();
            let hits: u64 = dbs.iter().map(|d| d.hits).sum();
            let misses: u64 = dbs.iter().map(|d| d.misses).sum();
            let errors: u64 = s.rest.errorstats.values().sum();
            let pubsub_channels = s.rest.channels.len();
            let pubsub_patterns = s.rest.patterns.len();
            o.push_str("# Stats\r\n");
            line!(
                o,
                "total_connections_received:{}",
                st.connections_received.load(Ordering::Relaxed)
            );
            line!(o, "total_commands_processed:{}", s.rest.total_commands);
            line!(
                o,
                "instantaneous_ops_per_sec:{}",
                st.ops_per_sec.load(Ordering::Relaxed)
            );
            line!(
                o,
                "total_net_input_bytes:{}",
                st.net_input_bytes.load(Ordering::Relaxed)
            );
            line!(
                o,
                "total_net_output_bytes:{}",
                st.net_output_bytes.load(Ordering::Relaxed)
            );
            line!(o, "total_net_repl_input_bytes:0");
            line!(o, "total_net_repl_output_bytes:0");
            line!(o, "instantaneous_input_kbps:0.00");
            line!(o, "instantaneous_output_kbps:0.00");
            line!(o, "instantaneous_input_repl_kbps:0.00");
            line!(o, "instantaneous_output_repl_kbps:0.00");
            line!(
                o,
                "rejected_connections:{}",
                st.rejected_connections.load(Ordering::Relaxed)
            );
            let (sync_full, sync_ok, sync_err) = crate::replication::sync_stats(s.rest);
            line!(o, "sync_full:{sync_full}");
            line!(o, "sync_partial_ok:{sync_ok}");
            line!(o, "sync_partial_err:{sync_err}");
            line!(o, "expired_keys:{expired}");
            line!(o, "expired_stale_perc:0.00");
            line!(o, "expired_time_cap_reached_count:0");
            line!(o, "expire_cycle_cpu_milliseconds:0");
            line!(o, "evicted_keys:0");
            line!(o, "evicted_clients:0");
            line!(o, "total_eviction_exceeded_time:0");
            line!(o, "current_eviction_exceeded_time:0");
            line!(o, "keyspace_hits:{hits}");
            line!(o, "keyspace_misses:{misses}");
            line!(o, "pubsub_channels:{pubsub_channels}");
            line!(o, "pubsub_patterns:{pubsub_patterns}");
            line!(o, "pubsubshard_channels:0");
            line!(o, "latest_fork_usec:0");
            line!(o, "total_forks:0");
            line!(o, "migrate_cached_sockets:0");
            line!(o, "slave_expires_tracked_keys:0");
            line!(o, "active_defrag_hits:0");
            line!(o, "active_defrag_misses:0");
            line!(o, "active_defrag_key_hits:0");
            line!(o, "active_defrag_key_misses:0");
            line!(o, "total_active_defrag_time:0");
            line!(o, "current_active_defrag_time:0");
            line!(o, "tracking_total_keys:0");
            line!(o, "tracking_total_items:0");
            line!(o, "tracking_total_prefixes:0");
            line!(o, "unexpected_error_replies:0");
            line!(o, "total_error_replies:{errors}");
            line!(o, "dump_payload_sanitizations:0");
            line!(o, "total_reads_processed:0");
            line!(o, "total_writes_processed:0");
            line!(o, "io_threaded_reads_processed:0");
            line!(o, "io_threaded_writes_processed:0");
            line!(o, "reply_buffer_shrinks:0");
            line!(o, "reply_buffer_expands:0");
        }
        "replication" => {
            o.push_str("# Replication\r\n");
            o.push_str(&crate::replication::info_replication(shared, s.rest));
        }
        "cpu" => {
            let (sys, user) = cpu_times();
            o.push_str("# CPU\r\n");
            line!(o, "used_cpu_sys:{sys:.6}");
            line!(o, "used_cpu_user:{user:.6}");
            line!(o, "used_cpu_sys_children:0.000000");
            line!(o, "used_cpu_user_children:0.000000");
            line!(o, "used_cpu_sys_main_thread:{sys:.6}");
            line!(o, "used_cpu_user_main_thread:{user:.6}");
        }
        "modules" => o.push_str("# Modules\r\n"),
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            let mut v: Vec<_> = s
                .rest
                .cmdstats
                .iter()
                .filter(|(_, st)| st.calls + st.rejected + st.failed > 0)
                .collect();
            v.sort_by_key(|(n, _)| **n);
            for (name, st) in v {
                o.push_str(&cmdstat_line(name, st));
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            let mut v: Vec<_> = s.rest.errorstats.iter().collect();
            v.sort();
            for (code, n) in v {
                line!(o, "errorstat_{code}:count={n}");
            }
        }
        "latencystats" => {
            o.push_str("# Latencystats\r\n");
            let mut v: Vec<_> = s.rest.cmdstats.iter().filter(|(_, st)| st.calls > 0).collect();
            v.sort_by_key(|(n, _)| **n);
            for (name, st) in v {
                let p = |q: f64| format!("{:.3}", percentile_usec(&st.latency_hist, q));
                line!(
                    o,
                    "latency_percentiles_usec_{name}:p50={},p99={},p99.9={}",
                    p(50.0),
                    p(99.0),
                    p(99.9)
                );
            }
        }
        "cluster" => {
            let cluster = shared.config.read().get_bool("cluster-enabled");
            o.push_str("# Cluster\r\n");
            line!(o, "cluster_enabled:{}", i32::from(cluster));
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for (i, db) in s.data.ks.dbs.iter().enumerate() {
                let keys = db.len();
                if keys == 0 {
                    continue;
                }
                line!(
                    o,
                    "db{i}:keys={keys},expires={},avg_ttl={}",
                    db.expires_len(),
                    db.avg_ttl(now_ms)
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn section_selection() {
        assert_eq!(select_sections(&[]), DEFAULT_SECTIONS.to_vec());
        assert_eq!(
            select_sections(&b(&["keyspace", "SERVER"])),
            vec!["server", "keyspace"]
        );
        assert_eq!(select_sections(&b(&["everything"])), SECTIONS.to_vec());
        assert_eq!(select_sections(&b(&["nosuch"])), Vec::<&str>::new());
        assert!(select_sections(&b(&["default", "commandstats"])).contains(&"commandstats"));
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1286656), "1.23M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
    }

    #[test]
    fn cmdstat_format() {
        let st = crate::shared::CmdStats {
            calls: 3,
            usec: 16,
            rejected: 0,
            failed: 1,
            ..Default::default()
        };
        assert_eq!(
            cmdstat_line("command|docs", &st),
            "cmdstat_command|docs:calls=3,usec=16,usec_per_call=5.33,rejected_calls=0,failed_calls=1\r\n"
        );
    }

    #[test]
    fn latency_percentiles() {
        let mut st = crate::shared::CmdStats::default();
        for us in [1, 1, 3, 3, 3, 100] {
            st.record_latency(us);
        }
        assert_eq!(st.latency_hist[0], 2);
        assert_eq!(st.latency_hist[2], 3);
        assert_eq!(st.latency_hist[7], 1);
        assert_eq!(percentile_usec(&st.latency_hist, 50.0), 4.0);
        assert_eq!(percentile_usec(&st.latency_hist, 99.0), 128.0);
        assert_eq!(percentile_usec(&[0; 4], 50.0), 0.0);
    }
}
