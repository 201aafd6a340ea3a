//! RDB persistence of the node: SAVE (in the foreground), BGSAVE (in a forked child), the
//! `save <seconds> <changes>` points, loading at start-up and the final save on shutdown.
//! Files are written to a temporary name, fsynced and renamed, so a crash mid-save never
//! damages the previous file. The file format itself is `slotkv-persistence`'s.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use slotkv_keyspace::Keyspace;
use slotkv_persistence::{read_rdb, write_rdb_with_aux, RdbOptions};

use crate::log::now_ms;
use crate::shared::{CoreRest, Shared};

/// State of background saving (under the core lock).
#[derive(Debug, Default)]
pub struct SaveState {
    /// A running BGSAVE child: (pid, start time ms, dirty counter when it started).
    pub child: Option<(i32, i64, u64)>,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_ms: i64,
    pub last_bgsave_duration_s: i64,
    pub last_try_ms: i64,
    pub saves_total: u64,
}

fn rdb_options(shared: &Shared) -> RdbOptions {
    let c = shared.config.read();
    RdbOptions {
        compression: c.get_bool("rdbcompression"),
        checksum: c.get_bool("rdbchecksum"),
    }
}

/// Writes the keyspace to `path` atomically (temp file, fsync, rename).
pub fn write_file(ks: &Keyspace, path: &Path, opts: &RdbOptions, tmp_tag: u32) -> std::io::Result<()> {
    write_file_with_aux(ks, path, opts, tmp_tag, &[])
}

/// [`write_file`] with extra AUX fields (the replication position, see
/// `replication::rdb_aux`).
pub fn write_file_with_aux(
    ks: &Keyspace,
    path: &Path,
    opts: &RdbOptions,
    tmp_tag: u32,
    aux: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{tmp_tag}.rdb"));
    let result = (|| {
        let f = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        write_rdb_with_aux(&mut w, ks, now_ms(), opts, aux)?;
        w.flush()?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn db_path(shared: &Shared) -> std::path::PathBuf {
    std::path::PathBuf::from(shared.config.read().get_str("dbfilename"))
}

/// SAVE: writes the file now, holding the lock (clients wait, as with Redis).
pub fn save_foreground(shared: &Shared, ks: &Keyspace, rest: &mut CoreRest) -> std::io::Result<()> {
    let path = db_path(shared);
    let aux = crate::replication::rdb_aux(rest);
    let result = write_file_with_aux(ks, &path, &rdb_options(shared), std::process::id(), &aux);
    match &result {
        Ok(()) => {
            tracing::info!("DB saved on disk");
            rest.dirty = 0;
            rest.last_save_s = now_ms() / 1000;
            rest.save.saves_total += 1;
            rest.save.last_bgsave_ok = true;
        }
        Err(e) => tracing::warn!("Failed saving the DB: {e}"),
    }
    result
}

/// BGSAVE: forks a child that writes the file. Errors if one is already running.
pub fn start_bgsave(shared: &Shared, ks: &Keyspace, rest: &mut CoreRest) -> Result<(), String> {
    if rest.save.child.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    let path = db_path(shared);
    let opts = rdb_options(shared);
    let started = now_ms();
    rest.save.last_try_ms = started;
    let aux = crate::replication::rdb_aux(rest);
    match crate::fork::spawn_child(|| write_file_with_aux(ks, &path, &opts, std::process::id(), &aux).is_ok())
    {
        Ok(pid) => {
            tracing::info!("Background saving started by pid {pid}");
            rest.save.child = Some((pid, started, rest.dirty));
            Ok(())
        }
        Err(e) => {
            rest.save.last_bgsave_ok = false;
            tracing::warn!("Can't save in background: fork: {e}");
            Err(format!("ERR Can't save in background: fork: {e}"))
        }
    }
}

/// Called by the cron: reaps a finished BGSAVE child and triggers saves when a save point
/// is reached.
pub fn cron(shared: &Shared, ks: &Keyspace, rest: &mut CoreRest) {
    if let Some((pid, started, dirty_then)) = rest.save.child {
        if let Some(ok) = crate::fork::poll_child(pid) {
            rest.save.child = None;
            rest.save.last_bgsave_ok = ok;
            rest.save.last_bgsave_duration_s = (now_ms() - started) / 1000;
            if ok {
                tracing::info!("Background saving terminated with success");
                rest.dirty = rest.dirty.saturating_sub(dirty_then);
                rest.last_save_s = started / 1000;
                rest.save.saves_total += 1;
            } else {
                tracing::warn!("Background saving error");
            }
        }
        return;
    }
    let points = save_points(shared);
    let now = now_ms();
    let retry_ok = rest.save.last_bgsave_ok || now - rest.save.last_try_ms > 5000;
    for (secs, changes) in points {
        if rest.dirty >= changes && now / 1000 - rest.last_save_s >= secs as i64 && retry_ok {
            tracing::info!("{changes} changes in {secs} seconds. Saving...");
            let _ = start_bgsave(shared, ks, rest);
            break;
        }
    }
}

/// The configured `save` points as (seconds, changes).
pub fn save_points(shared: &Shared) -> Vec<(u64, u64)> {
    let text = shared.config.read().get_str("save");
    let nums: Vec<u64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    nums.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0], c[1]))
        .collect()
}

/// Loads the RDB file at start-up if there is one. A damaged file is an error: the node
/// must not start with a silently empty dataset.
pub fn load_at_startup(shared: &Shared) -> Result<(), String> {
    let path = db_path(shared);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let started = std::time::Instant::now();
    let mut core = shared.core.lock();
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    match read_rdb(reader, &mut core.ks, now_ms()) {
        Ok(stats) => {
            crate::replication::restore_from_rdb(shared, &mut core.rest, &stats);
            tracing::info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                stats.keys_loaded,
                stats.expired_skipped
            );
            tracing::info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "Fatal error loading the DB ({}): {e}. Exiting.",
            path.display()
        )),
    }
}

/// The final save before exiting, when save points exist or SHUTDOWN SAVE asked for it.
pub fn final_save(shared: &Shared, force: Option<bool>) -> Result<(), String> {
    let wanted = match force {
        Some(v) => v,
        None => !save_points(shared).is_empty(),
    };
    let mut core = shared.core.lock();
    let core = &mut *core;
    if let Some((pid, _, _)) = core.rest.save.child.take() {
        tracing::warn!("There is a child saving an .rdb. Killing it!");
        crate::fork::kill_child(pid);
    }
    if core.rest.aof.enabled {
        crate::aof::flush_pending(&mut core.rest);
        core.rest.aof.sync_now();
        if let Some((pid, _, _, _)) = core.rest.aof.rewrite.take() {
            crate::fork::kill_child(pid);
        }
    }
    if !wanted {
        return Ok(());
    }
    tracing::warn!("Saving the final RDB snapshot before exiting.");
    save_foreground(shared, &core.ks, &mut core.rest).map_err(|e| {
        tracing::warn!("Error trying to save the DB, can't exit.");
        format!("{e}")
    })
}

/// DEBUG RELOAD: save, empty the dataset, load the file back.
pub fn reload(shared: &Shared, ks: &mut Keyspace, rest: &mut CoreRest) -> Result<(), String> {
    save_foreground(shared, ks, rest).map_err(|e| format!("ERR Error trying to save the DB: {e}"))?;
    let file =
        File::open(db_path(shared)).map_err(|e| format!("ERR Error trying to load the RDB dump: {e}"))?;
    for db in &mut ks.dbs {
        db.clear();
    }
    read_rdb(std::io::BufReader::new(file), ks, now_ms())
        .map_err(|e| format!("ERR Error trying to load the RDB dump, check server logs: {e}"))?;
    tracing::info!("DB reloaded by DEBUG RELOAD");
    Ok(())
}
