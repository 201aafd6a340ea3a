//! Connection commands: PING ECHO SELECT QUIT RESET HELLO AUTH.

use bytes::Bytes;
use slotkv_commands::args::{int, is};
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::ProtocolVersion;

use super::*;
use crate::exec::{Action, SrvCtx};
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Connection;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd("ping", -1, FAST | SENTINEL, (0, 0, 0), g, h(ping)),
        cmd("echo", 2, FAST, (0, 0, 0), g, h(echo)),
        cmd("select", 2, LOADING | STALE | FAST, (0, 0, 0), g, h(select)),
        cmd(
            "quit",
            -1,
            ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
            (0, 0, 0),
            g,
            h(quit),
        ),
        cmd(
            "reset",
            1,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(reset),
        )
        .since("6.2.0"),
        cmd(
            "hello",
            -1,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(hello),
        )
        .since("6.0.0"),
        cmd(
            "auth",
            -2,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(auth),
        ),
    ]
}

fn ping(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    let out = &mut *s.data.out;
    if s.conn.in_subscribe_mode() && !out.resp3() {
        out.array_len(2);
        out.bulk(b"pong");
        out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
    } else if let Some(msg) = args.get(1) {
        out.bulk(msg);
    } else {
        out.simple("PONG");
    }
    Ok(())
}

fn echo(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    s.data.out.bulk(&args[1]);
    Ok(())
}

fn select(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let idx = int(&args[1]).map_err(|_| CmdError::err("value is not an integer or out of range"))?;
    if s.shared.config.read().get_bool("cluster-enabled") && idx != 0 {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    if idx < 0 || idx as usize >= s.data.ks.dbs.len() {
        return Err(CmdError::err("DB index is out of range"));
    }
    s.conn.db = idx as usize;
    s.data.db = idx as usize;
    s.data.out.ok();
    Ok(())
}

fn quit(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.ok();
    s.conn.action = Some(Action::Close);
    Ok(())
}

fn reset(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::multi::unwatch_all(s.rest, s.conn);
    s.conn.multi = None;
    super::pubsub::unsubscribe_all(s.rest, s.conn);
    s.conn.db = 0;
    s.data.db = 0;
    s.conn.readonly = false;
    s.conn.asking = false;
    s.conn.authenticated = s.shared.config.read().get_str("requirepass").is_empty();
    s.conn.handle.info.lock().name.clear();
    if s.conn.monitor {
        s.conn.monitor = false;
        if s.shared.monitors.lock().remove(&s.conn.id).is_some() {
            s.shared
                .monitor_count
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    s.data.out.version = ProtocolVersion::Resp2;
    s.data.out.simple("RESET");
    Ok(())
}

/// Checks a password for the default user, with Redis's replies.
fn check_password(s: &mut SrvCtx<'_>, user: Option<&[u8]>, pass: &[u8]) -> CmdResult {
    let required = s.shared.config.read().get_str("requirepass");
    if required.is_empty() && user.is_none() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let user_ok = user.is_none_or(|u| u == b"default");
    let pass_ok = required.is_empty() || pass == required.as_bytes();
    if user_ok && pass_ok {
        s.conn.authenticated = true;
        Ok(())
    } else {
        Err(CmdError::Raw(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ))
    }
}

fn auth(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => check_password(s, None, &args[1])?,
        3 => check_password(s, Some(&args[1]), &args[2])?,
        _ => return Err(CmdError::Syntax),
    }
    s.data.out.ok();
    Ok(())
}

fn hello(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut version = None;
    let mut i = 1;
    if args.len() > 1 {
        let v =
            int(&args[1]).map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::Raw("NOPROTO unsupported protocol version".into()));
        }
        version = Some(v);
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            check_password(s, Some(&args[i + 1]), &args[i + 2])?;
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            setname = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    if !s.conn.authenticated {
        return Err(CmdError::Raw(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if let Some(name) = setname {
        super::server::validate_client_name(&name)?;
        s.conn.handle.info.lock().name = String::from_utf8_lossy(&name).into_owned();
    }
    if let Some(v) = version {
        s.data.out.version = if v == 3 {
            ProtocolVersion::Resp3
        } else {
            ProtocolVersion::Resp2
        };
    }
    let cluster = s.shared.config.read().get_bool("cluster-enabled");
    let out = &mut *s.data.out;
    out.map_len(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_COMPAT_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.resp3() { 3 } else { 2 });
    out.bulk(b"id");
    out.int(s.conn.id as i64);
    out.bulk(b"mode");
    out.bulk(if cluster { b"cluster" } else { b"standalone" });
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array_len(0);
    Ok(())
}
