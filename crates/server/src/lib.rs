//! A slotkv node: configuration, the listener, client connections, the dispatcher, and
//! the connection/server-level commands.
//!
//! The data path is `conn` (read, parse, batch) → `exec` (resolve, check, run, effects)
//! → a handler of `slotkv-commands` or of `cmds`. `shared` documents what each lock
//! guards. `cron` runs the periodic jobs (active expiry, client timeouts, stats).

pub mod aof;
pub mod cluster;
pub mod cmds;
mod conn;
mod cron;
mod daemon;
pub mod exec;
mod fork;
pub mod log;
pub mod pause;
pub mod persist;
pub mod propagate;
pub mod replication;
pub mod shared;
#[path = "main.rs"]
pub mod startup;
pub mod table;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use slotkv_config::Config;
use slotkv_keyspace::Keyspace;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::shared::{Core, CoreRest, Shared, Stats};
use crate::table::CommandTable;

/// The version we report where clients look for Redis's (`redis_version`, HELLO).
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";
/// Our own version.
pub const SLOTKV_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the shared state of a node from its configuration.
pub fn build_shared(config: Config, port: u16) -> Arc<Shared> {
    let databases = config.get_int("databases").max(1) as usize;
    let mut rest = CoreRest {
        last_save_s: log::now_ms() / 1000,
        slowlog_threshold_us: config.get_int("slowlog-log-slower-than"),
        slowlog_max_len: config.get_int("slowlog-max-len").max(0) as usize,
        latency_threshold_ms: config.get_int("latency-monitor-threshold"),
        ..Default::default()
    };
    rest.save.last_bgsave_ok = true;
    rest.replication.set_min_replicas(&config);
    let shared = Arc::new(Shared {
        core: Mutex::new(Core {
            ks: Keyspace::new(databases),
            rest,
        }),
        config: RwLock::new(config),
        table: CommandTable::standard(),
        clients: Mutex::default(),
        monitors: Mutex::default(),
        monitor_count: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        stats: Stats::default(),
        started: Instant::now(),
        started_ms: log::now_ms(),
        run_id: shared::random_hex40(),
        port,
        shutdown: Notify::new(),
        shutdown_requested: AtomicBool::new(false),
        active_expire: AtomicBool::new(true),
        pause: Default::default(),
        cluster: std::sync::OnceLock::new(),
        weak_self: std::sync::OnceLock::new(),
        migrate_sockets: Mutex::default(),
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    });
    let _ = shared.weak_self.set(Arc::downgrade(&shared));
    shared
}

/// Asks the node to stop (SHUTDOWN, signals).
pub fn request_shutdown(shared: &Shared, _save: Option<bool>) {
    shared.shutdown_requested.store(true, Ordering::SeqCst);
    shared.shutdown.notify_one();
}

/// What happens on the way out (SHUTDOWN, SIGTERM): saving comes with persistence.
pub fn shutdown_sequence(shared: &Shared) {
    for c in shared.client_list() {
        c.request_kill();
    }
}

/// Resolves the `bind` directive into listen addresses; the bool says whether a failure
/// to bind that address is tolerated (the `-` prefix).
pub fn bind_addresses(bind: &[String], port: u16) -> Vec<(SocketAddr, bool)> {
    let mut out = Vec::new();
    for b in bind {
        let (optional, addr) = match b.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, b.as_str()),
        };
        let ip: IpAddr = match addr {
            "*" => IpAddr::from([0, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            other => match other.parse() {
                Ok(ip) => ip,
                Err(_) => continue,
            },
        };
        out.push((SocketAddr::new(ip, port), optional));
    }
    out
}

/// Binds one listening socket like Redis does (SO_REUSEADDR, IPv6-only for IPv6).
pub fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    TcpListener::from_std(socket.into())
}

/// Runs the node on already-bound listeners until SHUTDOWN or a terminating signal.
pub async fn run(shared: Arc<Shared>, listeners: Vec<TcpListener>) {
    for l in listeners {
        tokio::spawn(accept_loop(shared.clone(), l));
    }
    tokio::spawn(cron::run(shared.clone()));
    tokio::spawn(replication::run_manager(shared.clone()));
    tokio::spawn(handle_signals(shared.clone()));
    shared.shutdown.notified().await;
}

/// SIGTERM/SIGINT: save if save points are configured, then stop. A failed save keeps the
/// node running, as Redis does.
async fn handle_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("Can't install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => tracing::warn!("Received SIGTERM scheduling shutdown..."),
            _ = int.recv() => tracing::warn!("Received SIGINT scheduling shutdown..."),
        }
        tracing::warn!("User requested shutdown...");
        let result = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || persist::final_save(&shared, None)).await
        };
        if matches!(result, Ok(Ok(()))) {
            request_shutdown(&shared, None);
            return;
        }
    }
}

fn is_default_bind(bind: &[String]) -> bool {
    bind == ["*", "-::*"]
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.stats.connections_received.fetch_add(1, Ordering::Relaxed);
        let laddr = stream.local_addr().unwrap_or(addr);
        let (maxclients, protected, keepalive) = {
            let c = shared.config.read();
            let protected = c.get_bool("protected-mode")
                && c.get_str("requirepass").is_empty()
                && is_default_bind(&c.bind());
            (
                c.get_int("maxclients").max(1) as usize,
                protected,
                c.get_int("tcp-keepalive"),
            )
        };
        if keepalive > 0 {
            let sock = socket2::SockRef::from(&stream);
            let ka = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(keepalive as u64));
            let _ = sock.set_tcp_keepalive(&ka);
        }
        if protected && !addr.ip().is_loopback() && !is_mapped_loopback(addr.ip()) {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reject(stream, PROTECTED_MODE_MSG));
            continue;
        }
        if shared.stats.connected_clients.load(Ordering::Relaxed) >= maxclients {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reject(stream, "-ERR max number of clients reached\r\n"));
            continue;
        }
        tokio::spawn(conn::serve(shared.clone(), stream, addr, laddr));
    }
}

fn is_mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

async fn reject(mut stream: tokio::net::TcpStream, msg: &'static str) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.write_all(msg.as_bytes()).await;
}

const PROTECTED_MODE_MSG: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
