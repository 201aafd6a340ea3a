//! The directive table: every directive Redis 7.0 knows (like its `static_configs[]`), with
//! its alias, type and bounds, default (as CONFIG GET reports it), mutability flags and whether
//! slotkv implements it yet.

use crate::value::{Kind, NumFmt, StrCheck};

/// Whether slotkv acts on a directive or only accepts and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// slotkv honours the value.
    Implemented,
    /// Accepted, validated and reported by CONFIG GET, but slotkv ignores it (a warning is
    /// produced when it appears in a config file).
    NotImplemented,
}

/// CONFIG SET refuses it: "can't set immutable config".
pub const IMMUTABLE: u8 = 1;
/// CONFIG SET refuses it unless `enable-protected-configs` allows it.
pub const PROTECTED: u8 = 2;
/// Its value is a secret (the server should redact it from logs and SLOWLOG).
pub const SENSITIVE: u8 = 4;
/// CONFIG GET patterns don't match it; only its exact name does.
pub const HIDDEN: u8 = 8;
/// CONFIG SET refuses it with a -LOADING error while the dataset is being loaded.
pub const DENY_LOADING: u8 = 16;

/// One directive of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    /// The default, as config-file argument text (multi-argument kinds split on spaces).
    pub default: &'static str,
    pub flags: u8,
    pub status: Status,
}

impl Directive {
    pub fn immutable(&self) -> bool {
        self.flags & IMMUTABLE != 0
    }
    pub fn protected(&self) -> bool {
        self.flags & PROTECTED != 0
    }
    pub fn sensitive(&self) -> bool {
        self.flags & SENSITIVE != 0
    }
    pub fn hidden(&self) -> bool {
        self.flags & HIDDEN != 0
    }
    pub fn deny_loading(&self) -> bool {
        self.flags & DENY_LOADING != 0
    }
}

use Status::{Implemented as I, NotImplemented as N};

const M: u8 = 0; // modifiable

const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const fn bool_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    st: Status,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        kind: Kind::Bool,
        default,
        flags,
        status: st,
    }
}

#[allow(clippy::too_many_arguments)]
const fn num(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    st: Status,
    min: i128,
    max: i128,
    fmt: NumFmt,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        kind: Kind::Num { min, max, fmt },
        default,
        flags,
        status: st,
    }
}

const fn int(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    st: Status,
    min: i128,
    max: i128,
    default: &'static str,
) -> Directive {
    num(name, alias, flags, st, min, max, NumFmt::Plain, default)
}

const fn mem(
    name: &'static str,
    flags: u8,
    st: Status,
    min: i128,
    max: i128,
    default: &'static str,
) -> Directive {
    num(name, None, flags, st, min, max, NumFmt::Memory, default)
}

const fn str_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    st: Status,
    null_if_empty: bool,
    check: Option<StrCheck>,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        kind: Kind::Str { null_if_empty, check },
        default,
        flags,
        status: st,
    }
}

const fn enum_(
    name: &'static str,
    flags: u8,
    st: Status,
    names: &'static [(&'static str, i64)],
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias: None,
        kind: Kind::Enum(names),
        default,
        flags,
        status: st,
    }
}

const fn special(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    st: Status,
    kind: Kind,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        kind,
        default,
        flags,
        status: st,
    }
}

const MAXMEMORY_POLICY: &[(&str, i64)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITY: &[(&str, i64)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
/// `loglevel` names, most verbose first.
pub const LOGLEVEL: &[(&str, i64)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, i64)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
const AOF_FSYNC: &[(&str, i64)] = &[("everysec", 1), ("always", 2), ("no", 0)];
const REPL_DISKLESS_LOAD: &[(&str, i64)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, i64)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ: &[(&str, i64)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, i64)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, i64)] = &[("no", 0), ("yes", 1), ("clients", 2)];
/// Values of `enable-debug-command` / `enable-protected-configs` / `enable-module-command`.
pub const PROTECTED_ACTION: &[(&str, i64)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPE: &[(&str, i64)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR: &[(&str, i64)] = &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];
const SHUTDOWN_ON_SIG: &[(&str, i64)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

fn is_basename(v: &[u8]) -> bool {
    !v.contains(&b'/') && !v.contains(&b'\\')
}

fn check_dbfilename(v: &[u8]) -> Result<(), &'static str> {
    if is_basename(v) {
        Ok(())
    } else {
        Err("dbfilename can't be a path, just a filename")
    }
}

fn check_aof_filename(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appendfilename can't be empty")
    } else if !is_basename(v) {
        Err("appendfilename can't be a path, just a filename")
    } else {
        Ok(())
    }
}

fn check_aof_dirname(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appenddirname can't be empty")
    } else if !is_basename(v) {
        Err("appenddirname can't be a path, just a dirname")
    } else {
        Ok(())
    }
}

fn check_hostname(v: &[u8]) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if v.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    {
        Ok(())
    } else {
        Err("Hostnames may only contain alphanumeric characters, hyphens or dots")
    }
}

fn check_proc_title_template(v: &[u8]) -> Result<(), &'static str> {
    const VARS: [&[u8]; 7] = [
        b"title",
        b"listen-addr",
        b"server-mode",
        b"port",
        b"tls-port",
        b"unixsocket",
        b"config-file",
    ];
    let err = Err("template format is invalid or contains unknown variables");
    if v.is_empty() {
        return err;
    }
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'{' => {
                let Some(close) = v[i + 1..].iter().position(|&c| c == b'}') else {
                    return err;
                };
                if !VARS.contains(&&v[i + 1..i + 1 + close]) {
                    return err;
                }
                i += close + 2;
            }
            b'}' => return err,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Every directive of Redis 7.0 (TLS ones included, as in a TLS-enabled build), in the order of
/// Redis's table.
pub static DIRECTIVES: &[Directive] = &[
    // Booleans.
    bool_("rdbchecksum", None, IMMUTABLE, I, "yes"),
    bool_("daemonize", None, IMMUTABLE, I, "no"),
    bool_("io-threads-do-reads", None, IMMUTABLE, N, "no"),
    bool_("always-show-logo", None, IMMUTABLE, N, "no"),
    bool_("protected-mode", None, M, I, "yes"),
    bool_("rdbcompression", None, M, I, "yes"),
    bool_("rdb-del-sync-files", None, M, N, "no"),
    bool_("activerehashing", None, M, N, "yes"),
    bool_("stop-writes-on-bgsave-error", None, M, N, "yes"),
    bool_("set-proc-title", None, IMMUTABLE, N, "yes"),
    bool_("dynamic-hz", None, M, N, "yes"),
    bool_("lazyfree-lazy-eviction", None, M, N, "no"),
    bool_("lazyfree-lazy-expire", None, M, N, "no"),
    bool_("lazyfree-lazy-server-del", None, M, N, "no"),
    bool_("lazyfree-lazy-user-del", None, M, N, "no"),
    bool_("lazyfree-lazy-user-flush", None, M, N, "no"),
    bool_("repl-disable-tcp-nodelay", None, M, N, "no"),
    bool_("repl-diskless-sync", None, M, N, "yes"),
    bool_("aof-rewrite-incremental-fsync", None, M, N, "yes"),
    bool_("no-appendfsync-on-rewrite", None, M, N, "no"),
    bool_("cluster-require-full-coverage", None, M, I, "yes"),
    bool_("rdb-save-incremental-fsync", None, M, N, "yes"),
    bool_("aof-load-truncated", None, M, I, "yes"),
    bool_("aof-use-rdb-preamble", None, M, N, "yes"),
    bool_("aof-timestamp-enabled", None, M, N, "no"),
    bool_(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        M,
        I,
        "no",
    ),
    bool_("replica-lazy-flush", Some("slave-lazy-flush"), M, N, "no"),
    bool_(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        M,
        N,
        "yes",
    ),
    bool_("replica-read-only", Some("slave-read-only"), M, I, "yes"),
    bool_(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        M,
        N,
        "yes",
    ),
    bool_("jemalloc-bg-thread", None, M, N, "yes"),
    bool_("activedefrag", None, M, N, "no"),
    bool_("syslog-enabled", None, IMMUTABLE, N, "no"),
    bool_("cluster-enabled", None, IMMUTABLE, I, "no"),
    bool_("appendonly", None, DENY_LOADING, I, "no"),
    bool_("cluster-allow-reads-when-down", None, M, I, "no"),
    bool_("cluster-allow-pubsubshard-when-down", None, M, I, "yes"),
    bool_("crash-log-enabled", None, M, N, "yes"),
    bool_("crash-memcheck-enabled", None, M, N, "yes"),
    bool_("use-exit-on-panic", None, HIDDEN, N, "no"),
    bool_("disable-thp", None, IMMUTABLE, N, "yes"),
    bool_("cluster-allow-replica-migration", None, M, I, "yes"),
    bool_("replica-announced", None, M, I, "yes"),
    bool_("latency-tracking", None, M, N, "yes"),
    bool_("aof-disable-auto-gc", None, M, N, "no"),
    bool_("replica-ignore-disk-write-errors", None, M, N, "no"),
    // Strings.
    str_("aclfile", None, IMMUTABLE, N, false, None, ""),
    str_("unixsocket", None, IMMUTABLE, N, true, None, ""),
    str_("pidfile", None, IMMUTABLE, I, true, None, ""),
    str_(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        M,
        I,
        true,
        None,
        "",
    ),
    str_("masteruser", None, SENSITIVE, I, true, None, ""),
    str_("cluster-announce-ip", None, M, I, true, None, ""),
    str_(
        "cluster-config-file",
        None,
        IMMUTABLE,
        I,
        false,
        None,
        "nodes.conf",
    ),
    str_(
        "cluster-announce-hostname",
        None,
        M,
        I,
        true,
        Some(check_hostname),
        "",
    ),
    str_("syslog-ident", None, IMMUTABLE, N, false, None, "redis"),
    str_(
        "dbfilename",
        None,
        PROTECTED,
        I,
        false,
        Some(check_dbfilename),
        "dump.rdb",
    ),
    str_(
        "appendfilename",
        None,
        IMMUTABLE,
        I,
        false,
        Some(check_aof_filename),
        "appendonly.aof",
    ),
    str_(
        "appenddirname",
        None,
        IMMUTABLE,
        I,
        false,
        Some(check_aof_dirname),
        "appendonlydir",
    ),
    str_("server_cpulist", None, IMMUTABLE, N, true, None, ""),
    str_("bio_cpulist", None, IMMUTABLE, N, true, None, ""),
    str_("aof_rewrite_cpulist", None, IMMUTABLE, N, true, None, ""),
    str_("bgsave_cpulist", None, IMMUTABLE, N, true, None, ""),
    str_("ignore-warnings", None, M, N, false, None, ""),
    str_(
        "proc-title-template",
        None,
        M,
        N,
        false,
        Some(check_proc_title_template),
        "{title} {listen-addr} {server-mode}",
    ),
    str_("bind-source-addr", None, M, N, true, None, ""),
    str_("logfile", None, IMMUTABLE, I, false, None, ""),
    str_("masterauth", None, SENSITIVE, I, true, None, ""),
    str_("requirepass", None, SENSITIVE, I, true, None, ""),
    // Enums.
    enum_("supervised", IMMUTABLE, N, SUPERVISED, "no"),
    enum_("syslog-facility", IMMUTABLE, N, SYSLOG_FACILITY, "local0"),
    enum_(
        "repl-diskless-load",
        DENY_LOADING,
        N,
        REPL_DISKLESS_LOAD,
        "disabled",
    ),
    enum_("loglevel", M, I, LOGLEVEL, "notice"),
    enum_("maxmemory-policy", M, N, MAXMEMORY_POLICY, "noeviction"),
    enum_("appendfsync", M, I, AOF_FSYNC, "everysec"),
    enum_("oom-score-adj", M, N, OOM_SCORE_ADJ, "no"),
    enum_("acl-pubsub-default", M, N, ACL_PUBSUB_DEFAULT, "resetchannels"),
    enum_("sanitize-dump-payload", M, N, SANITIZE_DUMP_PAYLOAD, "no"),
    enum_("enable-protected-configs", IMMUTABLE, N, PROTECTED_ACTION, "no"),
    enum_("enable-debug-command", IMMUTABLE, I, PROTECTED_ACTION, "no"),
    enum_("enable-module-command", IMMUTABLE, N, PROTECTED_ACTION, "no"),
    enum_("cluster-preferred-endpoint-type", M, I, ENDPOINT_TYPE, "ip"),
    enum_(
        "propagation-error-behavior",
        M,
        N,
        PROPAGATION_ERROR_BEHAVIOR,
        "ignore",
    ),
    special(
        "shutdown-on-sigint",
        None,
        M,
        N,
        Kind::Flags(SHUTDOWN_ON_SIG),
        "default",
    ),
    special(
        "shutdown-on-sigterm",
        None,
        M,
        N,
        Kind::Flags(SHUTDOWN_ON_SIG),
        "default",
    ),
    // Integers.
    int("databases", None, IMMUTABLE, I, 1, INT_MAX, "16"),
    int("port", None, M, I, 0, 65535, "6379"),
    int("io-threads", None, IMMUTABLE, N, 1, 128, "1"),
    int("auto-aof-rewrite-percentage", None, M, I, 0, INT_MAX, "100"),
    int(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        M,
        I,
        0,
        INT_MAX,
        "10",
    ),
    int(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        M,
        N,
        INT_MIN,
        INT_MAX,
        "-2",
    ),
    int("tcp-keepalive", None, M, I, 0, INT_MAX, "300"),
    int("cluster-migration-barrier", None, M, I, 0, INT_MAX, "1"),
    int("active-defrag-cycle-min", None, M, N, 1, 99, "1"),
    int("active-defrag-cycle-max", None, M, N, 1, 99, "25"),
    int("active-defrag-threshold-lower", None, M, N, 0, 1000, "10"),
    int("active-defrag-threshold-upper", None, M, N, 0, 1000, "100"),
    int("lfu-log-factor", None, M, N, 0, INT_MAX, "10"),
    int("lfu-decay-time", None, M, N, 0, INT_MAX, "1"),
    int(
        "replica-priority",
        Some("slave-priority"),
        M,
        I,
        0,
        INT_MAX,
        "100",
    ),
    int("repl-diskless-sync-delay", None, M, N, 0, INT_MAX, "5"),
    int("maxmemory-samples", None, M, N, 1, INT_MAX, "5"),
    int("maxmemory-eviction-tenacity", None, M, N, 0, 100, "10"),
    int("timeout", None, M, I, 0, INT_MAX, "0"),
    int(
        "replica-announce-port",
        Some("slave-announce-port"),
        M,
        I,
        0,
        65535,
        "0",
    ),
    int("tcp-backlog", None, IMMUTABLE, I, 0, INT_MAX, "511"),
    int("cluster-port", None, IMMUTABLE, I, 0, 65535, "0"),
    int("cluster-announce-bus-port", None, M, I, 0, 65535, "0"),
    int("cluster-announce-port", None, M, I, 0, 65535, "0"),
    int("cluster-announce-tls-port", None, M, I, 0, 65535, "0"),
    int("repl-timeout", None, M, I, 1, INT_MAX, "60"),
    int(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        M,
        I,
        1,
        INT_MAX,
        "10",
    ),
    int("list-compress-depth", None, M, N, 0, INT_MAX, "0"),
    int("rdb-key-save-delay", None, HIDDEN, N, INT_MIN, INT_MAX, "0"),
    int("key-load-delay", None, HIDDEN, N, INT_MIN, INT_MAX, "0"),
    int("active-expire-effort", None, M, N, 1, 10, "1"),
    int("hz", None, M, I, 0, INT_MAX, "10"),
    int(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        M,
        I,
        0,
        INT_MAX,
        "0",
    ),
    int(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        M,
        I,
        0,
        INT_MAX,
        "10",
    ),
    int("watchdog-period", None, HIDDEN, N, 0, INT_MAX, "0"),
    int("shutdown-timeout", None, M, N, 0, INT_MAX, "10"),
    int("repl-diskless-sync-max-replicas", None, M, N, 0, INT_MAX, "0"),
    int("socket-mark-id", None, IMMUTABLE, N, 0, UINT_MAX, "0"),
    // Unsigned integers.
    int("maxclients", None, M, I, 1, UINT_MAX, "10000"),
    num("unixsocketperm", None, IMMUTABLE, N, 0, 0o777, NumFmt::Octal, "0"),
    int("active-defrag-max-scan-fields", None, M, N, 1, LONG_MAX, "1000"),
    int("slowlog-max-len", None, M, I, 0, LONG_MAX, "128"),
    int("acllog-max-len", None, M, N, 0, LONG_MAX, "128"),
    // Long longs.
    int(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        M,
        N,
        0,
        LONG_MAX,
        "5000",
    ),
    int("cluster-node-timeout", None, M, I, 0, LONG_MAX, "15000"),
    int("slowlog-log-slower-than", None, M, I, -1, LONG_MAX, "10000"),
    int("latency-monitor-threshold", None, M, I, 0, LONG_MAX, "0"),
    mem("proto-max-bulk-len", M, I, 1024 * 1024, LONG_MAX, "536870912"),
    int("stream-node-max-entries", None, M, N, 0, LONG_MAX, "100"),
    mem("repl-backlog-size", M, I, 1, LONG_MAX, "1048576"),
    // Unsigned long longs.
    mem("maxmemory", M, I, 0, ULLONG_MAX, "0"),
    mem("cluster-link-sendbuf-limit", M, I, 0, ULLONG_MAX, "0"),
    // size_t.
    int(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        M,
        N,
        0,
        LONG_MAX,
        "512",
    ),
    int("set-max-intset-entries", None, M, N, 0, LONG_MAX, "512"),
    int(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        M,
        N,
        0,
        LONG_MAX,
        "128",
    ),
    mem("active-defrag-ignore-bytes", M, N, 1, LONG_MAX, "104857600"),
    num(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        M,
        N,
        0,
        LONG_MAX,
        NumFmt::Memory,
        "64",
    ),
    mem("stream-node-max-bytes", M, N, 0, LONG_MAX, "4096"),
    num(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        M,
        N,
        0,
        LONG_MAX,
        NumFmt::Memory,
        "64",
    ),
    mem("hll-sparse-max-bytes", M, N, 0, LONG_MAX, "3000"),
    int("tracking-table-max-keys", None, M, N, 0, LONG_MAX, "1000000"),
    mem(
        "client-query-buffer-limit",
        M,
        N,
        1024 * 1024,
        LONG_MAX,
        "1073741824",
    ),
    num(
        "maxmemory-clients",
        None,
        M,
        N,
        -100,
        LONG_MAX,
        NumFmt::MemoryOrPercent,
        "0",
    ),
    // time_t / off_t.
    int("repl-backlog-ttl", None, M, N, 0, LONG_MAX, "3600"),
    mem("auto-aof-rewrite-min-size", M, I, 0, LONG_MAX, "67108864"),
    int(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        N,
        1024,
        INT_MAX,
        "2097152",
    ),
    // TLS.
    int("tls-port", None, M, N, 0, 65535, "0"),
    int("tls-session-cache-size", None, M, N, 0, INT_MAX, "20480"),
    int("tls-session-cache-timeout", None, M, N, 0, INT_MAX, "300"),
    bool_("tls-cluster", None, M, N, "no"),
    bool_("tls-replication", None, M, N, "no"),
    enum_("tls-auth-clients", M, N, TLS_AUTH_CLIENTS, "yes"),
    bool_("tls-prefer-server-ciphers", None, M, N, "no"),
    bool_("tls-session-caching", None, M, N, "yes"),
    str_("tls-cert-file", None, M, N, true, None, ""),
    str_("tls-key-file", None, M, N, true, None, ""),
    str_("tls-key-file-pass", None, SENSITIVE, N, true, None, ""),
    str_("tls-client-cert-file", None, M, N, true, None, ""),
    str_("tls-client-key-file", None, M, N, true, None, ""),
    str_("tls-client-key-file-pass", None, SENSITIVE, N, true, None, ""),
    str_("tls-dh-params-file", None, M, N, true, None, ""),
    str_("tls-ca-cert-file", None, M, N, true, None, ""),
    str_("tls-ca-cert-dir", None, M, N, true, None, ""),
    str_("tls-protocols", None, M, N, true, None, ""),
    str_("tls-ciphers", None, M, N, true, None, ""),
    str_("tls-ciphersuites", None, M, N, true, None, ""),
    // Special.
    special("dir", None, PROTECTED | DENY_LOADING, I, Kind::Dir, "."),
    special("save", None, M, I, Kind::Save, "3600 1 300 100 60 10000"),
    special(
        "client-output-buffer-limit",
        None,
        M,
        N,
        Kind::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    special(
        "oom-score-adj-values",
        None,
        M,
        N,
        Kind::OomScoreAdjValues,
        "0 200 800",
    ),
    special(
        "notify-keyspace-events",
        None,
        M,
        N,
        Kind::NotifyKeyspaceEvents,
        "",
    ),
    special("bind", None, M, I, Kind::Bind, "* -::*"),
    special(
        "replicaof",
        Some("slaveof"),
        IMMUTABLE,
        I,
        Kind::ReplicaOf,
        "no one",
    ),
    special(
        "latency-tracking-info-percentiles",
        None,
        M,
        N,
        Kind::Percentiles,
        "50 99 99.9",
    ),
];

/// Looks a directive (or alias) up case-insensitively: (index in [`DIRECTIVES`], is alias).
pub fn lookup(name: &[u8]) -> Option<(usize, bool)> {
    DIRECTIVES.iter().enumerate().find_map(|(i, d)| {
        if d.name.as_bytes().eq_ignore_ascii_case(name) {
            Some((i, false))
        } else if d.alias.is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name)) {
            Some((i, true))
        } else {
            None
        }
    })
}

/// Index of a directive by canonical name; panics on an unknown name (a programming error).
pub fn index_of(name: &str) -> usize {
    match lookup(name.as_bytes()) {
        Some((i, _)) => i,
        None => panic!("unknown config directive {name:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for d in DIRECTIVES {
            for n in std::iter::once(d.name).chain(d.alias) {
                assert_eq!(n, n.to_ascii_lowercase());
                assert!(seen.insert(n), "duplicate {n}");
            }
        }
    }

    #[test]
    fn every_cluster_directive_is_implemented() {
        for d in DIRECTIVES.iter().filter(|d| d.name.starts_with("cluster-")) {
            assert_eq!(d.status, Status::Implemented, "{}", d.name);
        }
    }

    #[test]
    fn proc_title_templates() {
        assert!(check_proc_title_template(b"{title} {listen-addr} {server-mode}").is_ok());
        assert!(check_proc_title_template(b"x {port}").is_ok());
        assert!(check_proc_title_template(b"").is_err());
        assert!(check_proc_title_template(b"{bad}").is_err());
        assert!(check_proc_title_template(b"{title").is_err());
        assert!(check_proc_title_template(b"title}").is_err());
    }
}
