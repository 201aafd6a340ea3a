//! Periodic jobs, `hz` times a second: active expiry of keys, idle-client timeouts, the
//! ops/sec sample. The only place besides connections that takes the core lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::exec::signal_key;
use crate::log::now_ms;
use crate::shared::Shared;

pub async fn run(shared: Arc<Shared>) {
    let mut last_ops = (now_ms(), 0u64);
    let mut rng = rand::rngs::StdRng::from_entropy();
    loop {
        let hz = shared.config.read().get_int("hz").clamp(1, 500) as u64;
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        let now = now_ms();
        // Keys do not expire while clients are paused (the data set stands still).
        if shared.active_expire.load(Ordering::Relaxed) && !shared.pause.any(now) {
            let mut core = shared.core.lock();
            let core = &mut *core;
            for (i, db) in core.ks.dbs.iter_mut().enumerate() {
                if db.expires_len() == 0 {
                    continue;
                }
                db.active_expire_cycle(now, 20, 16, &mut rng);
                for k in std::mem::take(&mut db.expired) {
                    signal_key(&mut core.rest, i, &k);
                    core.rest.repl.feed(i, &crate::propagate::del_command(&k));
                }
            }
            crate::aof::flush_pending(&mut core.rest);
        }
        {
            let mut core = shared.core.lock();
            let core = &mut *core;
            crate::persist::cron(&shared, &core.ks, &mut core.rest);
            crate::aof::cron(&shared, &core.ks, &mut core.rest);
        }
        {
            let total = shared.core.lock().rest.total_commands;
            let dt = (now - last_ops.0).max(1) as u64;
            if dt >= 1000 || total < last_ops.1 {
                let ops = (total.saturating_sub(last_ops.1)) * 1000 / dt;
                shared.stats.ops_per_sec.store(ops, Ordering::Relaxed);
                last_ops = (now, total);
            }
        }
        crate::cmds::migrate::expire_sockets(&shared);
        let timeout_s = shared.config.read().get_int("timeout");
        if timeout_s > 0 {
            for c in shared.client_list() {
                let info = c.info.lock();
                let idle = now - info.last_active_ms;
                let exempt = info.sub > 0 || info.psub > 0 || c.is_monitor.load(Ordering::Relaxed);
                drop(info);
                if !exempt && idle > timeout_s * 1000 {
                    tracing::debug!("Closing idle client");
                    c.request_kill();
                }
            }
        }
    }
}

use rand::SeedableRng;
