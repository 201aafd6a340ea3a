//! The append-only file in Redis 7.0's multi-part layout: in `appenddirname`, a base file
//! (an RDB snapshot, `<name>.<seq>.base.rdb`), incremental files of commands
//! (`<name>.<seq>.incr.aof`) and a manifest (`<name>.manifest`) listing them. Writes are
//! appended after each batch under the core lock, fsynced per `appendfsync`. A rewrite
//! forks a child that writes a new base while the parent switches to a new incremental
//! file at the same instant, so base + new incr is always the whole dataset.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use slotkv_keyspace::Keyspace;
use slotkv_persistence::RdbOptions;
use slotkv_protocol::{ReplyWriter, RequestParser};

use crate::log::now_ms;
use crate::shared::{Core, CoreRest, Shared};

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    Always,
    #[default]
    EverySec,
    No,
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    /// `b` base, `h` history, `i` incremental.
    pub kind: char,
}

/// The manifest: one base, then incremental files in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
}

impl Manifest {
    /// Parses `file <name> seq <n> type <b|h|i>` lines (with `sdssplitargs` quoting).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args = slotkv_protocol::split_args(line.as_bytes())
                .ok_or_else(|| format!("Invalid AOF manifest file format (line {})", i + 1))?;
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in args.chunks(2) {
                if pair.len() != 2 {
                    return Err(format!("Invalid AOF manifest file format (line {})", i + 1));
                }
                let v = String::from_utf8_lossy(&pair[1]).into_owned();
                match &pair[0][..] {
                    b"file" => name = Some(v),
                    b"seq" => seq = v.parse::<u64>().ok(),
                    b"type" => kind = v.chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!("Invalid AOF manifest file format (line {})", i + 1));
            };
            if name.contains('/') {
                return Err(format!("File can't be a path, just a filename (line {})", i + 1));
            }
            let f = AofFile { name, seq, kind };
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some(f);
                }
                'i' => m.incrs.push(f),
                'h' => {}
                _ => return Err(format!("Unknown AOF file type (line {})", i + 1)),
            }
        }
        m.incrs.sort_by_key(|f| f.seq);
        Ok(m)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(b) = &self.base {
            s.push_str(&format!("file {} seq {} type b\n", b.name, b.seq));
        }
        for f in &self.incrs {
            s.push_str(&format!("file {} seq {} type i\n", f.name, f.seq));
        }
        s
    }
}

/// The AOF of a node (under the core lock).
#[derive(Debug, Default)]
pub struct AofState {
    pub enabled: bool,
    pub fsync: Fsync,
    dir: PathBuf,
    basename: String,
    manifest: Manifest,
    file: Option<File>,
    /// Bytes in the current incremental file and the base at the last rewrite.
    pub current_size: u64,
    pub base_size: u64,
    /// A running rewrite child: (pid, new base seq, temp name, start ms).
    pub rewrite: Option<(i32, u64, String, i64)>,
    pub last_rewrite_ok: bool,
    pub rewrites: u64,
    last_fsync_ms: i64,
    unsynced: bool,
    fsync_in_flight: Arc<AtomicBool>,
    pub last_write_error: Option<String>,
}

fn read_config(shared: &Shared) -> (bool, Fsync, PathBuf, String) {
    let c = shared.config.read();
    let fsync = match c.get_str("appendfsync").as_str() {
        "always" => Fsync::Always,
        "no" => Fsync::No,
        _ => Fsync::EverySec,
    };
    (
        c.get_bool("appendonly"),
        fsync,
        PathBuf::from(c.get_str("appenddirname")),
        c.get_str("appendfilename"),
    )
}

impl AofState {
    fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.basename))
    }

    fn incr_name(&self, seq: u64) -> String {
        format!("{}.{seq}.incr.aof", self.basename)
    }

    fn base_name(&self, seq: u64) -> String {
        format!("{}.{seq}.base.rdb", self.basename)
    }

    /// Writes the manifest atomically.
    fn persist_manifest(&self) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("temp-{}.manifest", self.basename));
        let mut f = File::create(&tmp)?;
        f.write_all(self.manifest.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.manifest_path())?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn open_incr(&mut self, seq: u64) -> std::io::Result<()> {
        let name = self.incr_name(seq);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&name))?;
        self.current_size = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(f);
        if !self.manifest.incrs.iter().any(|i| i.seq == seq) {
            self.manifest.incrs.push(AofFile { name, seq, kind: 'i' });
        }
        Ok(())
    }

    /// Appends the pending stream bytes; with `always`, fsyncs before returning (before
    /// any reply of the batch is sent).
    pub fn write(&mut self, bytes: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        match f.write_all(bytes) {
            Ok(()) => {
                self.current_size += bytes.len() as u64;
                self.unsynced = true;
                self.last_write_error = None;
            }
            Err(e) => {
                tracing::warn!("Error writing to the AOF file: {e}");
                self.last_write_error = Some(e.to_string());
                return;
            }
        }
        if self.fsync == Fsync::Always {
            if let Err(e) = f.sync_data() {
                tracing::warn!(
                    "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {e}"
                );
            }
            self.unsynced = false;
        }
    }

    /// Flushes to disk now (shutdown).
    pub fn sync_now(&mut self) {
        if let Some(f) = self.file.as_ref() {
            if let Err(e) = f.sync_data() {
                tracing::warn!("Error syncing the AOF on shutdown: {e}");
            }
        }
    }

    /// `everysec`: hands an fsync to a blocking thread at most once a second.
    fn background_fsync(&mut self, now: i64) {
        if self.fsync != Fsync::EverySec || !self.unsynced || now - self.last_fsync_ms < 1000 {
            return;
        }
        if self.fsync_in_flight.load(Ordering::Acquire) {
            return;
        }
        let Some(f) = self.file.as_ref().and_then(|f| f.try_clone().ok()) else {
            return;
        };
        self.last_fsync_ms = now;
        self.unsynced = false;
        let flag = self.fsync_in_flight.clone();
        flag.store(true, Ordering::Release);
        std::thread::spawn(move || {
            let _ = f.sync_data();
            flag.store(false, Ordering::Release);
        });
    }
}

/// Flushes the stream bytes produced by the last batch into the AOF.
#[inline]
pub fn flush_pending(rest: &mut CoreRest) {
    if rest.aof.enabled && !rest.repl.aof_pending.is_empty() {
        let pending = std::mem::take(&mut rest.repl.aof_pending);
        rest.aof.write(&pending);
        let mut pending = pending;
        pending.clear();
        rest.repl.aof_pending = pending;
    }
}

/// Start-up with `appendonly yes`: loads the files of the manifest, or creates the first
/// base and incremental file if there is none.
pub fn load_at_startup(shared: &Shared) -> Result<bool, String> {
    let (enabled, fsync, dir, basename) = read_config(shared);
    if !enabled {
        return Ok(false);
    }
    let mut core = shared.core.lock();
    let core = &mut *core;
    core.rest.aof = AofState {
        enabled: true,
        fsync,
        dir: dir.clone(),
        basename,
        last_rewrite_ok: true,
        ..Default::default()
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't create the append-only dir {}: {e}", dir.display()))?;
    let manifest_path = core.rest.aof.manifest_path();
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some(Manifest::parse(&text).map_err(|e| format!("{e} in {}", manifest_path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(format!(
                "Can't read the AOF manifest {}: {e}",
                manifest_path.display()
            ))
        }
    };
    let started = std::time::Instant::now();
    match manifest {
        Some(m) => {
            let truncated_ok = shared.config.read().get_bool("aof-load-truncated");
            if let Some(base) = &m.base {
                load_file(shared, core, &dir.join(&base.name), false, truncated_ok)?;
                core.rest.aof.base_size = std::fs::metadata(dir.join(&base.name))
                    .map(|m| m.len())
                    .unwrap_or(0);
            }
            let last = m.incrs.len().saturating_sub(1);
            for (i, f) in m.incrs.iter().enumerate() {
                load_file(shared, core, &dir.join(&f.name), i == last, truncated_ok)?;
            }
            let seq = m.incrs.last().map_or(1, |f| f.seq);
            core.rest.aof.manifest = m;
            core.rest
                .aof
                .open_incr(seq)
                .map_err(|e| format!("Can't open the append-only file: {e}"))?;
            core.rest
                .aof
                .persist_manifest()
                .map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
            tracing::info!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
        }
        None => {
            // No AOF yet: a base of the current (empty) dataset and the first incr file.
            let base = core.rest.aof.base_name(1);
            write_base(&core.ks, &dir.join(&base), &rdb_opts(shared))
                .map_err(|e| format!("Can't create the AOF base: {e}"))?;
            tracing::info!("Creating AOF base file {base} on server start");
            core.rest.aof.manifest.base = Some(AofFile {
                name: base,
                seq: 1,
                kind: 'b',
            });
            core.rest
                .aof
                .open_incr(1)
                .map_err(|e| format!("Can't open the append-only file: {e}"))?;
            core.rest
                .aof
                .persist_manifest()
                .map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
            tracing::info!(
                "Creating AOF incr file {} on server start",
                core.rest.aof.incr_name(1)
            );
        }
    }
    core.rest.repl.enabled = true;
    core.rest.repl.aof_enabled = true;
    core.rest.repl.reset_selected_db();
    Ok(true)
}

fn rdb_opts(shared: &Shared) -> RdbOptions {
    let c = shared.config.read();
    RdbOptions {
        compression: c.get_bool("rdbcompression"),
        checksum: c.get_bool("rdbchecksum"),
    }
}

fn write_base(ks: &Keyspace, path: &Path, opts: &RdbOptions) -> std::io::Result<()> {
    crate::persist::write_file(ks, path, opts, std::process::id())
}

/// Replays one file: an RDB base (or RDB preamble), then RESP commands.
fn load_file(
    shared: &Shared,
    core: &mut Core,
    path: &Path,
    is_last: bool,
    truncated_ok: bool,
) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| format!("Can't open the append-only file {name}: {e}"))?;
    let mut start = 0usize;
    if data.starts_with(b"REDIS") {
        let stats = slotkv_persistence::read_rdb(&data[..], &mut core.ks, now_ms())
            .map_err(|e| format!("Bad file format reading the append only file {name}: {e}"))?;
        start = stats.bytes as usize;
        if start >= data.len() {
            return Ok(());
        }
    }
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(&data[start..]);
    let total = buf.len();
    let mut conn = crate::exec::ConnState::internal(shared);
    let mut out = ReplyWriter::default();
    let now = now_ms();
    let mut valid_end = 0usize;
    loop {
        match parser.next(&mut buf) {
            Ok(Some(args)) => {
                crate::exec::call(core, &mut conn, shared, &mut out, &args, now);
                out.buf.clear();
                valid_end = total - buf.len();
            }
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {}: {e}. Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    start + valid_end
                ));
            }
        }
    }
    if valid_end < total || parser.in_progress() {
        if is_last && truncated_ok {
            tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
            tracing::warn!(
                "!!! Truncating the AOF {name} at offset {} !!!",
                start + valid_end
            );
            if let Ok(f) = OpenOptions::new().write(true).open(path) {
                let _ = f.set_len((start + valid_end) as u64);
            }
            tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        } else {
            return Err(format!(
                "Unexpected end of file reading the append only file {name} at offset {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                start + valid_end
            ));
        }
    }
    Ok(())
}

/// BGREWRITEAOF: switch to a new incremental file now, fork a child that writes the new
/// base; [`cron`] finishes the job when the child exits.
pub fn start_rewrite(shared: &Shared, ks: &Keyspace, rest: &mut CoreRest) -> Result<(), String> {
    if !rest.aof.enabled {
        return Err("ERR Background append only file rewriting is not enabled: appendonly is no".into());
    }
    if rest.aof.rewrite.is_some() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    flush_pending(rest);
    let aof = &mut rest.aof;
    let next_incr = aof.manifest.incrs.last().map_or(1, |f| f.seq) + 1;
    aof.open_incr(next_incr)
        .map_err(|e| format!("ERR Can't open a new AOF file: {e}"))?;
    aof.persist_manifest()
        .map_err(|e| format!("ERR Can't write the AOF manifest: {e}"))?;
    rest.repl.reset_selected_db();
    let new_base_seq = aof.manifest.base.as_ref().map_or(1, |b| b.seq) + 1;
    let tmp = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
    let tmp_path = aof.dir.join(&tmp);
    let opts = rdb_opts(shared);
    match crate::fork::spawn_child(|| {
        let f = match File::create(&tmp_path) {
            Ok(f) => f,
            Err(_) => return false,
        };
        let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
        if slotkv_persistence::write_rdb(&mut w, ks, now_ms(), &opts).is_err() || w.flush().is_err() {
            return false;
        }
        w.into_inner().map(|f| f.sync_all().is_ok()).unwrap_or(false)
    }) {
        Ok(pid) => {
            tracing::info!("Background append only file rewriting started by pid {pid}");
            aof.rewrite = Some((pid, new_base_seq, tmp, now_ms()));
            Ok(())
        }
        Err(e) => {
            aof.last_rewrite_ok = false;
            Err(format!(
                "ERR Can't rewrite append only file in background: fork: {e}"
            ))
        }
    }
}

/// Periodic AOF work: background fsync, finishing a rewrite, automatic rewrites.
pub fn cron(shared: &Shared, ks: &Keyspace, rest: &mut CoreRest) {
    if !rest.aof.enabled {
        return;
    }
    flush_pending(rest);
    let now = now_ms();
    rest.aof.background_fsync(now);
    if let Some((pid, seq, tmp, _started)) = rest.aof.rewrite.clone() {
        let Some(ok) = crate::fork::poll_child(pid) else {
            return;
        };
        rest.aof.rewrite = None;
        let aof = &mut rest.aof;
        if !ok {
            tracing::warn!("Background AOF rewrite terminated with error");
            aof.last_rewrite_ok = false;
            let _ = std::fs::remove_file(aof.dir.join(&tmp));
            return;
        }
        let base = aof.base_name(seq);
        if let Err(e) = std::fs::rename(aof.dir.join(&tmp), aof.dir.join(&base)) {
            tracing::warn!("Error trying to rename the temporary AOF base file: {e}");
            aof.last_rewrite_ok = false;
            return;
        }
        let current = aof.manifest.incrs.last().cloned();
        let old: Vec<AofFile> = aof
            .manifest
            .base
            .iter()
            .cloned()
            .chain(
                aof.manifest
                    .incrs
                    .iter()
                    .filter(|f| Some(*f) != current.as_ref())
                    .cloned(),
            )
            .collect();
        aof.manifest.base = Some(AofFile {
            name: base.clone(),
            seq,
            kind: 'b',
        });
        aof.manifest.incrs = current.into_iter().collect();
        if let Err(e) = aof.persist_manifest() {
            tracing::warn!("Can't write the AOF manifest after rewrite: {e}");
            aof.last_rewrite_ok = false;
            return;
        }
        for f in old {
            if f.name != base {
                let _ = std::fs::remove_file(aof.dir.join(&f.name));
            }
        }
        aof.base_size = std::fs::metadata(aof.dir.join(&base))
            .map(|m| m.len())
            .unwrap_or(0);
        aof.last_rewrite_ok = true;
        aof.rewrites += 1;
        tracing::info!("Background AOF rewrite finished successfully");
        return;
    }
    let (pct, min) = {
        let c = shared.config.read();
        (
            c.get_int("auto-aof-rewrite-percentage"),
            c.get_int("auto-aof-rewrite-min-size"),
        )
    };
    let size = rest.aof.current_size + rest.aof.base_size;
    if pct > 0 && size as i64 > min && rest.save.child.is_none() {
        let base = rest.aof.base_size.max(1);
        let growth = (size.saturating_sub(base)) * 100 / base;
        if growth as i64 >= pct {
            tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(shared, ks, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.render(), text);
        assert!(Manifest::parse("file a seq x type b\n").is_err());
        assert!(Manifest::parse("file a/b seq 1 type b\n").is_err());
    }
}
