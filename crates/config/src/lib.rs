//! Interim configuration registry (being replaced by the full table-driven one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<String, String>,
    file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let mut values = BTreeMap::new();
        for (k, v) in [
            ("port", "6379"),
            ("bind", "* -::*"),
            ("dir", "."),
            ("logfile", ""),
            ("loglevel", "notice"),
            ("pidfile", ""),
            ("daemonize", "no"),
            ("requirepass", ""),
            ("maxclients", "10000"),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("protected-mode", "yes"),
            ("databases", "16"),
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
            ("appendfilename", "appendonly.aof"),
            ("dbfilename", "dump.rdb"),
            ("save", "3600 1 300 100 60 10000"),
            ("enable-debug-command", "no"),
            ("proto-max-bulk-len", "536870912"),
            ("hz", "10"),
            ("slowlog-log-slower-than", "10000"),
            ("slowlog-max-len", "128"),
            ("latency-monitor-threshold", "0"),
            ("cluster-enabled", "no"),
            ("maxmemory", "0"),
        ] {
            values.insert(k.to_string(), v.to_string());
        }
        Self { values, file: None }
    }
}

impl Config {
    pub fn from_args(args: &[String]) -> Result<(Config, Vec<String>), ConfigError> {
        let mut c = Config::default();
        let mut i = 0;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| ConfigError(format!("{first}: {e}")))?;
                c.apply_text(&text)?;
                c.file = Some(PathBuf::from(first));
                i = 1;
            }
        }
        while i < args.len() {
            let name = args[i].trim_start_matches("--").to_string();
            let mut vals = Vec::new();
            i += 1;
            while i < args.len() && !args[i].starts_with("--") {
                vals.push(args[i].clone());
                i += 1;
            }
            c.values.insert(name, vals.join(" "));
        }
        Ok((c, Vec::new()))
    }

    fn apply_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts = slotkv_protocol::split_args(line.as_bytes()).ok_or_else(|| ConfigError("bad quotes".into()))?;
            if parts.is_empty() {
                continue;
            }
            let name = String::from_utf8_lossy(&parts[0]).to_lowercase();
            let vals: Vec<String> = parts[1..].iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            self.values.insert(name, vals.join(" "));
        }
        Ok(())
    }

    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| slotkv_protocol::glob_match(pattern, k.as_bytes(), true))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn set(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        let mut changed = Vec::new();
        for (k, v) in pairs {
            let k = String::from_utf8_lossy(k).to_lowercase();
            self.values.insert(k.clone(), String::from_utf8_lossy(v).into_owned());
            changed.push(k);
        }
        Ok(changed)
    }

    pub fn rewrite(&self, _path: &Path) -> Result<(), String> {
        Err("ERR Rewriting config file: not supported yet".into())
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn get_str(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn get_int(&self, name: &str) -> i64 {
        self.get_str(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get_str(name) == "yes"
    }

    pub fn port(&self) -> u16 {
        self.get_int("port") as u16
    }

    pub fn bind(&self) -> Vec<String> {
        self.get_str("bind").split_whitespace().map(str::to_string).collect()
    }

    pub fn dir(&self) -> String {
        self.get_str("dir")
    }
}
