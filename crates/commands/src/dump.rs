//! DUMP, RESTORE and RESTORE-ASKING: values in Redis's serialization format, so that keys
//! move between slotkv and redis-server (MIGRATE, `redis-cli --cluster` resharding).

use bytes::Bytes;

use crate::args::{int, is};
use crate::flags::*;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::Generic;
    vec![
        cmd("dump", 2, READONLY, (1, 1, 1), g, dump as DataFn)
            .since("2.6.0")
            .summary("Return a serialized version of the value stored at the specified key."),
        cmd("restore", -4, WRITE | DENYOOM, (1, 1, 1), g, restore as DataFn)
            .since("2.6.0")
            .acl(&["@dangerous"])
            .summary("Create a key using the provided serialized value, previously obtained using DUMP."),
        cmd(
            "restore-asking",
            -4,
            WRITE | DENYOOM | ASKING,
            (1, 1, 1),
            g,
            restore as DataFn,
        )
        .since("3.0.0")
        .acl(&["@dangerous"])
        .summary("An internal command for migrating keys in a cluster"),
    ]
}

fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match ctx.get(&args[1]) {
        Some(v) => {
            let payload = slotkv_persistence::dump_payload(v);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut absttl = false;
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && i + 1 < args.len() {
            let v = int(&args[i + 1])?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            i += 1;
        } else if is(a, "freq") && i + 1 < args.len() {
            let v = int(&args[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let ttl = int(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let key = &args[1];
    let now = ctx.now_ms;
    if !replace && ctx.db().exists(key, now) {
        return Err(CmdError::BusyKey);
    }
    let decoded = match ctx.predecoded.take() {
        Some((payload, value)) if crate::ctx::same_bytes(&payload, &args[3]) => value,
        other => {
            ctx.predecoded = other;
            slotkv_persistence::restore_payload(&args[3])
        }
    };
    let value = decoded.map_err(|e| CmdError::Raw(e.restore_reply().to_string()))?;
    let when = if ttl == 0 {
        None
    } else if absttl {
        Some(ttl)
    } else {
        Some(ttl.saturating_add(now))
    };
    let db = ctx.db();
    if let Some(t) = when {
        if t <= now {
            // Already expired: the key is not created (an old one is removed with REPLACE).
            if db.remove(key).is_some() {
                ctx.dirty += 1;
                ctx.propagate(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
            }
            ctx.out.ok();
            return Ok(());
        }
    }
    db.set(key, value, now);
    if let Some(t) = when {
        db.set_expire(key, t);
    }
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::Harness;

    #[test]
    fn dump_restore_round_trip() {
        let mut h = Harness::new();
        h.run("SET k hello");
        assert!(h.run("DUMP k").starts_with("$"));
        let payload = slotkv_persistence::dump_payload(&slotkv_keyspace::Value::Str(b"hello".to_vec()));
        assert_eq!(
            h.run_args(&[b"RESTORE", b"k", b"0", &payload]),
            "-BUSYKEY Target key name already exists.\r\n"
        );
        assert_eq!(h.run_args(&[b"RESTORE", b"k2", b"0", &payload]), "+OK\r\n");
        assert_eq!(h.run("GET k2"), "$5\r\nhello\r\n");
        assert_eq!(
            h.run_args(&[b"RESTORE", b"k2", b"-1", &payload]),
            "-ERR Invalid TTL value, must be >= 0\r\n"
        );
        assert_eq!(
            h.run_args(&[b"RESTORE", b"k3", b"0", b"garbage-payload"]),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
        assert_eq!(
            h.run_args(&[b"RESTORE", b"k2", b"1000", &payload, b"REPLACE"]),
            "+OK\r\n"
        );
        assert_eq!(h.ks.dbs[0].expire_at(b"k2"), Some(h.now_ms + 1000));
        assert_eq!(h.run("DUMP nokey"), "$-1\r\n");
    }
}
