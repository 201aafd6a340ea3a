//! Process start-up and shutdown, as `redis-server` does them: argument handling, config
//! loading errors, daemonizing, `chdir` to `dir`, the pidfile, the banner and the
//! `Ready to accept connections` line, listening errors, and signals.

use slotkv_config::Config;

use crate::{bind_addresses, build_shared, listen, log, REDIS_COMPAT_VERSION, SLOTKV_VERSION};

fn usage() -> String {
    "Usage: ./slotkv-server [/path/to/redis.conf] [options] [-]\n       ./slotkv-server - (read config from stdin)\n       ./slotkv-server -v or --version\n       ./slotkv-server -h or --help\n\nExamples:\n       ./slotkv-server (run the server with default conf)\n       ./slotkv-server /etc/redis/6379.conf\n       ./slotkv-server --port 7777\n       ./slotkv-server /etc/myredis.conf --loglevel verbose -\n       ./slotkv-server /etc/myredis.conf --loglevel verbose\n".into()
}

/// Runs the server process; returns the exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    if let Some(first) = args.first() {
        if first == "-v" || first == "--version" {
            println!(
                "slotkv server v={SLOTKV_VERSION} (compatible with Redis server v={REDIS_COMPAT_VERSION}) bits=64"
            );
            return 0;
        }
        if first == "-h" || first == "--help" {
            eprint!("{}", usage());
            return 1;
        }
    }
    let (config, warnings) = match Config::from_args(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if config.get_bool("daemonize") {
        if let Err(e) = crate::daemon::daemonize() {
            eprintln!("Can't daemonize: {e}");
            return 1;
        }
    }
    let dir = config.dir().to_string();
    if !dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&dir) {
            eprintln!("Can't chdir to '{dir}': {e}");
            return 1;
        }
    }
    if let Err(e) = log::init(&config.get_str("logfile"), &config.get_str("loglevel")) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    let pid = std::process::id();
    tracing::warn!("oO0OoO0OoO0Oo slotkv is starting oO0OoO0OoO0Oo");
    tracing::warn!(
        "slotkv version={SLOTKV_VERSION}, redis compatibility={REDIS_COMPAT_VERSION}, bits=64, pid={pid}, just started"
    );
    match config.config_file() {
        Some(p) => tracing::warn!("Configuration loaded from {}", p.display()),
        None => tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use ./slotkv-server /path/to/redis.conf"
        ),
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let port = config.port();
    let pidfile = config.get_str("pidfile");
    let pidfile = if pidfile.is_empty() && config.get_bool("daemonize") {
        format!("/var/run/redis_{port}.pid")
    } else {
        pidfile
    };
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{pid}\n")) {
            tracing::warn!("Failed to write PID file: {e}");
        }
    }
    let threads = config.get_int("io-threads").max(1) as usize;
    let built = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("Can't start the runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(async move {
        let backlog = config.get_int("tcp-backlog").clamp(1, 65535) as i32;
        let binds = config.bind();
        let mode = if config.get_bool("cluster-enabled") {
            "cluster"
        } else {
            "standalone"
        };
        let cluster = if config.get_bool("cluster-enabled") {
            match crate::cluster::ClusterShell::open(&config, port) {
                Ok(c) => Some(std::sync::Arc::new(c)),
                Err(e) => {
                    tracing::warn!("{e}");
                    return 1;
                }
            }
        } else {
            None
        };
        let shared = build_shared(config, port);
        if cluster.is_some() {
            // Keys by hash slot, for COUNTKEYSINSLOT / GETKEYSINSLOT (only db 0 in a cluster).
            shared.core.lock().ks.dbs[0].enable_slot_index();
        }
        // With appendonly yes the AOF is the source of truth, as in Redis.
        let loaded = match crate::aof::load_at_startup(&shared) {
            Ok(used_aof) => {
                if used_aof {
                    Ok(())
                } else {
                    crate::persist::load_at_startup(&shared)
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = loaded {
            tracing::warn!("{e}");
            return 1;
        }
        let mut listeners = Vec::new();
        if port != 0 {
            for (addr, optional) in bind_addresses(&binds, port) {
                match listen(addr, backlog) {
                    Ok(l) => listeners.push(l),
                    Err(e) if optional => {
                        tracing::debug!("Skipping optional bind address {addr}: {e}");
                    }
                    Err(e) => {
                        tracing::warn!(
                            "Warning: Could not create server TCP listening socket {}:{port}: bind: {}",
                            bind_label(addr),
                            io_reason(&e)
                        );
                        tracing::warn!("Failed listening on port {port} (tcp), aborting.");
                        return 1;
                    }
                }
            }
            if listeners.is_empty() {
                tracing::warn!("Failed listening on port {port} (tcp), aborting.");
                return 1;
            }
        }
        if let Some(shell) = cluster {
            let bus_addr = std::net::SocketAddr::from(([0, 0, 0, 0], shell.bus_port));
            let bus = match listen(bus_addr, backlog) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(
                        "Warning: Could not create server TCP listening socket *:{}: bind: {}",
                        shell.bus_port,
                        io_reason(&e)
                    );
                    tracing::warn!("Failed listening on port {} (cluster), aborting.", shell.bus_port);
                    return 1;
                }
            };
            let _ = shared.cluster.set(shell.clone());
            tokio::spawn(crate::cluster::bus::listen(shared.clone(), shell.clone(), bus));
            tokio::spawn(crate::cluster::cron(shared.clone(), shell));
        }
        tracing::info!("slotkv {SLOTKV_VERSION} (Redis {REDIS_COMPAT_VERSION} compatible), 64 bit");
        tracing::info!("Running mode={mode}, port={port}.");
        tracing::info!("Port: {port}");
        tracing::info!("PID: {pid}");
        tracing::warn!("Server initialized");
        tracing::info!("Ready to accept connections tcp");
        crate::run(shared.clone(), listeners).await;
        crate::shutdown_sequence(&shared);
        0
    });
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    tracing::warn!("slotkv is now ready to exit, bye bye...");
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

fn bind_label(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        if addr.is_ipv6() {
            "::*".into()
        } else {
            "*".into()
        }
    } else {
        addr.ip().to_string()
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "Address already in use".into(),
        std::io::ErrorKind::AddrNotAvailable => "Cannot assign requested address".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}
