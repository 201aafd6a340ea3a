//! The `Config` value store: one value per directive of the table, CONFIG GET matching,
//! atomic multi-pair CONFIG SET, and typed accessors for the server.

use std::path::{Path, PathBuf};

use slotkv_protocol::glob_match;

use crate::table::{self, lookup, Directive, DIRECTIVES, PROTECTED_ACTION};
use crate::value::{format_value, parse_value, Kind, ObufLimit, Value};

/// Lowest and highest effective `hz`, as Redis clamps it.
pub const MIN_HZ: i128 = 1;
pub const MAX_HZ: i128 = 500;

/// The server configuration: a value per directive, plus the non-table directives
/// (`rename-command`, `user`, `loadmodule`, module configs) kept for the server to act on.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) values: Vec<Value>,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) rename_commands: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) users: Vec<Vec<Vec<u8>>>,
    pub(crate) load_modules: Vec<Vec<Vec<u8>>>,
    pub(crate) module_configs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Default for Config {
    /// Defaults only, as redis-server without a config file.
    fn default() -> Config {
        let values = DIRECTIVES.iter().map(default_value).collect();
        Config {
            values,
            config_file: None,
            rename_commands: Vec::new(),
            users: Vec::new(),
            load_modules: Vec::new(),
            module_configs: Vec::new(),
        }
    }
}

/// Splits a CONFIG SET value of a multi-argument directive the way Redis does (`sdssplitlen`
/// on single spaces: "" gives no arguments, consecutive spaces give empty ones).
pub(crate) fn split_spaces(v: &[u8]) -> Vec<&[u8]> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(|&c| c == b' ').collect()
    }
}

/// The parsed default of a directive.
pub(crate) fn default_value(d: &Directive) -> Value {
    let args: Vec<&[u8]> = if d.kind.multi_arg() {
        split_spaces(d.default.as_bytes())
    } else {
        vec![d.default.as_bytes()]
    };
    match parse_value(&d.kind, &args, None) {
        Ok(v) => v,
        Err(e) => panic!("bad default for {}: {e}", d.name),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Config {
    fn value(&self, name: &str) -> &Value {
        &self.values[table::index_of(name)]
    }

    /// The configuration file given at startup (absolute), if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The value of directive `idx` as CONFIG GET reports it.
    pub(crate) fn format_index(&self, idx: usize) -> Vec<u8> {
        let d = &DIRECTIVES[idx];
        if let Kind::Dir = d.kind {
            // Like Redis (which reports getcwd()): the server chdirs into `dir` at startup.
            return match std::env::current_dir() {
                Ok(p) => p.to_string_lossy().into_owned().into_bytes(),
                Err(_) => Vec::new(),
            };
        }
        if d.name == "hz" {
            if let Value::Num(n) = self.values[idx] {
                return n.clamp(MIN_HZ, MAX_HZ).to_string().into_bytes();
            }
        }
        format_value(&d.kind, &self.values[idx])
    }

    /// CONFIG GET with one pattern. Without glob characters the name is looked up exactly
    /// (case-insensitively, hidden directives included) and echoed as given; otherwise every
    /// visible name, aliases included, is matched case-insensitively.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        self.get_matching_multi(&[pattern])
    }

    /// CONFIG GET with several patterns (Redis 7.0), without duplicates.
    pub fn get_matching_multi<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let push = |name: String, idx: usize, out: &mut Vec<(String, String)>| {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, lossy(&self.format_index(idx))));
            }
        };
        for p in patterns {
            let p = p.as_ref();
            if !p.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                if let Some((idx, _)) = lookup(p) {
                    push(lossy(p), idx, &mut out);
                }
                continue;
            }
            for (idx, d) in DIRECTIVES.iter().enumerate() {
                if d.hidden() {
                    continue;
                }
                for name in std::iter::once(d.name).chain(d.alias) {
                    if glob_match(p, name.as_bytes(), true) {
                        push(name.to_string(), idx, &mut out);
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET, atomically, for a client that is not local (see [`Config::set_from`]).
    pub fn set(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        self.set_from(pairs, false)
    }

    /// CONFIG SET, atomically: either every pair is applied or none. Returns the canonical
    /// names whose value changed, or the error text (without the leading '-') Redis 7.0 gives.
    /// `client_is_local` matters for protected configs with `enable-protected-configs local`.
    /// The caller still has to apply the changes (listen port, bind, chdir for `dir`...).
    pub fn set_from(
        &mut self,
        pairs: &[(Vec<u8>, Vec<u8>)],
        client_is_local: bool,
    ) -> Result<Vec<String>, String> {
        let protected_ok = match &self.values[table::index_of("enable-protected-configs")] {
            Value::Enum(v) => {
                let yes = PROTECTED_ACTION.iter().find(|(n, _)| *n == "yes").map(|x| x.1);
                let local = PROTECTED_ACTION.iter().find(|(n, _)| *n == "local").map(|x| x.1);
                Some(*v) == yes || (Some(*v) == local && client_is_local)
            }
            _ => false,
        };
        // Pass 1: find every directive, refuse unknown, immutable, protected and duplicates.
        let mut targets: Vec<(usize, bool, String)> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let given = lossy(name);
            let Some((idx, alias)) = lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{given}'"
                ));
            };
            let d = &DIRECTIVES[idx];
            let refuse = if d.immutable() {
                Some("can't set immutable config")
            } else if d.protected() && !protected_ok {
                Some("can't set protected config")
            } else if targets.iter().any(|(i, a, _)| *i == idx && *a == alias) {
                Some("duplicate parameter")
            } else {
                None
            };
            if let Some(why) = refuse {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{given}') - {why}"
                ));
            }
            let registered = if alias { d.alias.unwrap_or(d.name) } else { d.name };
            targets.push((idx, alias, registered.to_string()));
        }
        // Pass 2: parse everything against a copy, then commit.
        let mut new_values = self.values.clone();
        for ((idx, _, registered), (_, raw)) in targets.iter().zip(pairs) {
            let d = &DIRECTIVES[*idx];
            let args: Vec<&[u8]> = if d.kind.multi_arg() {
                split_spaces(raw)
            } else {
                vec![raw.as_slice()]
            };
            match parse_value(&d.kind, &args, Some(&new_values[*idx])) {
                Ok(v) => new_values[*idx] = v,
                Err(e) => {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{registered}') - {e}"
                    ))
                }
            }
        }
        let mut changed = Vec::new();
        for (idx, _, _) in &targets {
            let name = DIRECTIVES[*idx].name.to_string();
            if new_values[*idx] != self.values[*idx] && !changed.contains(&name) {
                changed.push(name);
            }
        }
        self.values = new_values;
        // Like Redis's apply step for hz: out-of-range values are kept clamped.
        let hz = table::index_of("hz");
        if let Value::Num(n) = self.values[hz] {
            self.values[hz] = Value::Num(n.clamp(MIN_HZ, MAX_HZ));
        }
        if !changed.is_empty() {
            tracing::debug!(?changed, "CONFIG SET changed directives");
        }
        Ok(changed)
    }

    /// Whether CONFIG SET of this directive (or alias) must be refused with -LOADING while
    /// the server loads its dataset (Redis's DENY_LOADING_CONFIG: appendonly, dir,
    /// repl-diskless-load). The server checks this before calling [`Config::set`].
    pub fn denied_while_loading(name: &[u8]) -> bool {
        lookup(name).is_some_and(|(i, _)| DIRECTIVES[i].deny_loading())
    }

    /// Whether a directive (or alias) holds a secret, so the server redacts CONFIG SET values.
    pub fn is_sensitive(name: &[u8]) -> bool {
        lookup(name).is_some_and(|(i, _)| DIRECTIVES[i].sensitive())
    }

    /// A bool directive by canonical name (false for other kinds).
    pub fn get_bool(&self, name: &str) -> bool {
        matches!(self.value(name), Value::Bool(true))
    }

    /// A numeric directive by canonical name (saturated to i64; percentages are negative, as
    /// Redis stores them). Bools give 0/1, enums and flag sets their value; other kinds 0.
    pub fn get_int(&self, name: &str) -> i64 {
        match self.value(name) {
            Value::Num(n) => (*n).clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            Value::Bool(b) => i64::from(*b),
            Value::Enum(v) | Value::Flags(v) => *v,
            Value::Notify(f) => i64::from(*f),
            _ => 0,
        }
    }

    /// Any directive by canonical name, formatted as CONFIG GET reports it.
    pub fn get_str(&self, name: &str) -> String {
        lossy(&self.format_index(table::index_of(name)))
    }

    /// Any directive by canonical name, raw bytes as CONFIG GET reports it.
    pub fn get_bytes(&self, name: &str) -> Vec<u8> {
        self.format_index(table::index_of(name))
    }

    fn opt_str(&self, name: &str) -> Option<String> {
        match self.value(name) {
            Value::Str(Some(s)) => Some(lossy(s)),
            _ => None,
        }
    }

    // ----- Typed accessors -----

    pub fn port(&self) -> u16 {
        self.get_int("port") as u16
    }
    /// Bind addresses (`-` prefix = optional, `*` = all IPv4, `::*` = all IPv6).
    pub fn bind(&self) -> Vec<String> {
        match self.value("bind") {
            Value::Bind(a) => a.iter().map(|x| lossy(x)).collect(),
            _ => Vec::new(),
        }
    }
    /// The `dir` to chdir into at startup (the crate itself never changes directory).
    pub fn dir(&self) -> &str {
        match self.value("dir") {
            Value::Dir(d) => std::str::from_utf8(d).unwrap_or("."),
            _ => ".",
        }
    }
    /// Log file; "" means standard output.
    pub fn logfile(&self) -> String {
        self.get_str("logfile")
    }
    /// `debug`, `verbose`, `notice` or `warning`.
    pub fn loglevel(&self) -> String {
        self.get_str("loglevel")
    }
    pub fn pidfile(&self) -> Option<String> {
        self.opt_str("pidfile")
    }
    pub fn unixsocket(&self) -> Option<String> {
        self.opt_str("unixsocket")
    }
    pub fn daemonize(&self) -> bool {
        self.get_bool("daemonize")
    }
    /// The default user's password, if any (may be binary).
    pub fn requirepass(&self) -> Option<Vec<u8>> {
        match self.value("requirepass") {
            Value::Str(s) => s.clone(),
            _ => None,
        }
    }
    pub fn maxclients(&self) -> u32 {
        self.get_int("maxclients") as u32
    }
    /// Client idle timeout in seconds (0 = never).
    pub fn timeout(&self) -> u64 {
        self.get_int("timeout") as u64
    }
    pub fn tcp_keepalive(&self) -> u64 {
        self.get_int("tcp-keepalive") as u64
    }
    pub fn protected_mode(&self) -> bool {
        self.get_bool("protected-mode")
    }
    pub fn databases(&self) -> usize {
        self.get_int("databases") as usize
    }
    pub fn appendonly(&self) -> bool {
        self.get_bool("appendonly")
    }
    /// `always`, `everysec` or `no`.
    pub fn appendfsync(&self) -> String {
        self.get_str("appendfsync")
    }
    pub fn appendfilename(&self) -> String {
        self.get_str("appendfilename")
    }
    pub fn appenddirname(&self) -> String {
        self.get_str("appenddirname")
    }
    pub fn dbfilename(&self) -> String {
        self.get_str("dbfilename")
    }
    /// RDB save points: (seconds, changes).
    pub fn save_params(&self) -> Vec<(i64, i64)> {
        match self.value("save") {
            Value::Save(s) => s.clone(),
            _ => Vec::new(),
        }
    }
    /// `no`, `yes` or `local`.
    pub fn enable_debug_command(&self) -> String {
        self.get_str("enable-debug-command")
    }
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.get_int("proto-max-bulk-len") as u64
    }
    /// The effective hz (clamped to 1..=500 like Redis).
    pub fn hz(&self) -> u32 {
        i128::from(self.get_int("hz")).clamp(MIN_HZ, MAX_HZ) as u32
    }
    pub fn slowlog_log_slower_than(&self) -> i64 {
        self.get_int("slowlog-log-slower-than")
    }
    pub fn slowlog_max_len(&self) -> u64 {
        self.get_int("slowlog-max-len") as u64
    }
    pub fn latency_monitor_threshold(&self) -> i64 {
        self.get_int("latency-monitor-threshold")
    }
    pub fn maxmemory(&self) -> u64 {
        match self.value("maxmemory") {
            Value::Num(n) => (*n).clamp(0, u64::MAX.into()) as u64,
            _ => 0,
        }
    }
    pub fn tcp_backlog(&self) -> u32 {
        self.get_int("tcp-backlog") as u32
    }
    pub fn cluster_enabled(&self) -> bool {
        self.get_bool("cluster-enabled")
    }
    pub fn cluster_config_file(&self) -> String {
        self.get_str("cluster-config-file")
    }
    /// Milliseconds.
    pub fn cluster_node_timeout(&self) -> u64 {
        self.get_int("cluster-node-timeout") as u64
    }
    /// The cluster bus port: `cluster-port`, or port + 10000 when 0.
    pub fn cluster_bus_port(&self) -> u32 {
        match self.get_int("cluster-port") {
            0 => u32::from(self.port()) + 10000,
            p => p as u32,
        }
    }
    pub fn cluster_announce_ip(&self) -> Option<String> {
        self.opt_str("cluster-announce-ip")
    }
    pub fn cluster_announce_hostname(&self) -> Option<String> {
        self.opt_str("cluster-announce-hostname")
    }
    pub fn cluster_announce_port(&self) -> u16 {
        self.get_int("cluster-announce-port") as u16
    }
    pub fn cluster_announce_bus_port(&self) -> u16 {
        self.get_int("cluster-announce-bus-port") as u16
    }
    pub fn cluster_announce_tls_port(&self) -> u16 {
        self.get_int("cluster-announce-tls-port") as u16
    }
    /// `ip`, `hostname` or `unknown-endpoint`.
    pub fn cluster_preferred_endpoint_type(&self) -> String {
        self.get_str("cluster-preferred-endpoint-type")
    }
    /// (hard, soft, soft seconds) for the classes normal, replica, pubsub.
    pub fn client_output_buffer_limits(&self) -> [ObufLimit; 3] {
        match self.value("client-output-buffer-limit") {
            Value::Obuf(l) => *l,
            _ => crate::value::default_obuf(),
        }
    }
    /// `replicaof` host and port, if set.
    pub fn replicaof(&self) -> Option<(String, u16)> {
        match self.value("replicaof") {
            Value::ReplicaOf(Some((h, p))) => Some((lossy(h), *p as u16)),
            _ => None,
        }
    }
    /// `rename-command` pairs from the config file (the target may be empty = removed).
    pub fn rename_commands(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.rename_commands
    }
    /// `user` lines (arguments after the directive).
    pub fn users(&self) -> &[Vec<Vec<u8>>] {
        &self.users
    }
    /// `loadmodule` lines (path then arguments).
    pub fn load_modules(&self) -> &[Vec<Vec<u8>>] {
        &self.load_modules
    }
    /// Module configs (`module.name value`).
    pub fn module_configs(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.module_configs
    }
}
