//! CLIENT and its subcommands: naming, listing and killing connections.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};

use super::*;
use crate::exec::{Action, SrvCtx};
use crate::shared::ClientHandle;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Connection;
    let h = |f: SrvFn| Handler::Srv(f);
    let conn = NOSCRIPT | LOADING | STALE;
    let adm = ADMIN | NOSCRIPT | LOADING | STALE;
    vec![
        cmd("client", -2, 0, (0, 0, 0), g, h(super::config_cmd::container))
            .since("2.4.0")
            .subs(vec![
                cmd("client|caching", 3, conn, (0, 0, 0), g, h(client_caching)).since("6.0.0"),
                cmd("client|getname", 2, conn, (0, 0, 0), g, h(client_getname)).since("2.6.9"),
                cmd("client|getredir", 2, conn, (0, 0, 0), g, h(client_getredir)).since("6.0.0"),
                cmd("client|help", 2, LOADING | STALE, (0, 0, 0), g, h(client_help)).since("5.0.0"),
                cmd("client|id", 2, conn, (0, 0, 0), g, h(client_id)).since("5.0.0"),
                cmd("client|info", 2, conn, (0, 0, 0), g, h(client_info)).since("6.2.0"),
                cmd("client|kill", -3, adm, (0, 0, 0), g, h(client_kill)).since("2.4.0"),
                cmd("client|list", -2, adm, (0, 0, 0), g, h(client_list)).since("2.4.0"),
                cmd("client|no-evict", 3, adm, (0, 0, 0), g, h(client_no_evict)).since("7.0.0"),
                cmd("client|pause", -3, adm, (0, 0, 0), g, h(client_pause)).since("2.9.50"),
                cmd("client|reply", 3, conn, (0, 0, 0), g, h(client_reply)).since("3.2.0"),
                cmd("client|setname", 3, conn, (0, 0, 0), g, h(client_setname)).since("2.6.9"),
                cmd("client|tracking", -3, conn, (0, 0, 0), g, h(client_tracking)).since("6.0.0"),
                cmd(
                    "client|trackinginfo",
                    2,
                    conn,
                    (0, 0, 0),
                    g,
                    h(client_trackinginfo),
                )
                .since("6.2.0"),
                cmd("client|unblock", -3, adm, (0, 0, 0), g, h(client_unblock)).since("5.0.0"),
                cmd("client|unpause", 2, adm, (0, 0, 0), g, h(client_unpause)).since("6.2.0"),
            ]),
    ]
}

/// Everything one CLIENT LIST line shows.
#[derive(Debug, Clone, Default)]
pub struct ClientLine {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: String,
    pub age_s: i64,
    pub idle_s: i64,
    pub flags: String,
    pub db: usize,
    pub sub: usize,
    pub psub: usize,
    pub multi: i64,
    pub qbuf: usize,
    pub cmd: String,
    pub resp: u8,
}

/// A CLIENT LIST / CLIENT INFO line in Redis 7.0's format (without the newline).
pub fn format_client_line(c: &ClientLine) -> String {
    let qbuf_free = if c.qbuf == 0 {
        0
    } else {
        (16 * 1024usize).saturating_sub(c.qbuf)
    };
    let tot_mem = 20 * 1024 + c.qbuf + qbuf_free;
    format!(
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} \
user=default redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.name,
        c.age_s,
        c.idle_s,
        c.flags,
        c.db,
        c.sub,
        c.psub,
        c.multi,
        c.qbuf,
        qbuf_free,
        tot_mem,
        c.cmd,
        c.resp
    )
}

/// Redis's client types, for TYPE filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn parse_type(arg: &[u8]) -> Result<ClientType, CmdError> {
    let t = arg.to_ascii_lowercase();
    Ok(match t.as_slice() {
        b"normal" => ClientType::Normal,
        b"slave" | b"replica" => ClientType::Replica,
        b"master" => ClientType::Master,
        b"pubsub" => ClientType::PubSub,
        _ => {
            return Err(CmdError::err(format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(arg)
            )))
        }
    })
}

/// The line of one client; `s` supplies live values for the calling connection.
fn line_for(s: &SrvCtx<'_>, c: &ClientHandle, now_ms: i64) -> ClientLine {
    let info = c.info.lock().clone();
    let me = c.id == s.conn.id;
    let (db, sub, psub, multi, cmd, resp, idle_s) = if me {
        (
            s.conn.db,
            s.conn.subs.channels.len(),
            s.conn.subs.patterns.len(),
            s.conn.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            s.conn.last_cmd.to_string(),
            if s.data.out.resp3() { 3 } else { 2 },
            0,
        )
    } else {
        (
            info.db,
            info.sub,
            info.psub,
            info.multi,
            info.last_cmd.to_string(),
            info.resp,
            (now_ms - info.last_active_ms).max(0) / 1000,
        )
    };
    let mut flags = String::new();
    if c.is_monitor.load(Ordering::Relaxed) {
        flags.push('O');
    } else if s
        .rest
        .replication
        .replicas
        .get(&c.id)
        .is_some_and(|r| r.online || r.snapshot.is_some())
    {
        // A replica once it sent PSYNC (or SYNC), as Redis flags it.
        flags.push('S');
    }
    if sub + psub > 0 {
        flags.push('P');
    }
    if multi >= 0 {
        flags.push('x');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    ClientLine {
        id: c.id,
        addr: c.addr.to_string(),
        laddr: c.laddr.to_string(),
        name: info.name,
        age_s: (now_ms - c.created_ms).max(0) / 1000,
        idle_s,
        flags,
        db,
        sub,
        psub,
        multi,
        qbuf: if me { 0 } else { info.qbuf },
        cmd: if cmd.is_empty() { "NULL".into() } else { cmd },
        resp,
    }
}

fn type_of(line: &ClientLine) -> ClientType {
    if line.flags.starts_with('S') {
        ClientType::Replica
    } else if line.sub + line.psub > 0 {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

fn client_list(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut type_filter = None;
    let mut ids: Option<std::collections::HashSet<u64>> = None;
    if args.len() == 4 && is(&args[2], "type") {
        type_filter = Some(parse_type(&args[3])?);
    } else if args.len() >= 4 && is(&args[2], "id") {
        let mut v = std::collections::HashSet::new();
        for a in &args[3..] {
            match slotkv_protocol::parse_i64(a) {
                Some(n) if n > 0 => {
                    v.insert(n as u64);
                }
                _ => return Err(CmdError::err("Invalid client ID")),
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let now = crate::log::now_ms();
    let mut text = String::new();
    for c in s.shared.client_list() {
        if let Some(ids) = &ids {
            if !ids.contains(&c.id) {
                continue;
            }
        }
        let line = line_for(s, &c, now);
        if let Some(t) = type_filter {
            if type_of(&line) != t {
                continue;
            }
        }
        text.push_str(&format_client_line(&line));
        text.push('\n');
    }
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_info(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let handle = s.conn.handle.clone();
    let line = line_for(s, &handle, crate::log::now_ms());
    let mut text = format_client_line(&line);
    text.push('\n');
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_id(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(s.conn.id as i64);
    Ok(())
}

fn client_setname(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    super::server::validate_client_name(&args[2])?;
    s.conn.handle.info.lock().name = String::from_utf8_lossy(&args[2]).into_owned();
    s.data.out.ok();
    Ok(())
}

fn client_getname(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let name = s.conn.handle.info.lock().name.clone();
    if name.is_empty() {
        s.data.out.null();
    } else {
        s.data.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// Kills `c`: the calling client gets its reply first, then closes.
fn kill(s: &mut SrvCtx<'_>, c: &ClientHandle) {
    if c.id == s.conn.id {
        s.conn.action = Some(Action::Close);
    } else {
        c.request_kill();
    }
}

fn client_kill(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        // Old form: CLIENT KILL ip:port.
        let target = String::from_utf8_lossy(&args[2]).into_owned();
        let found = s
            .shared
            .client_list()
            .into_iter()
            .find(|c| c.addr.to_string() == target);
        return match found {
            Some(c) => {
                kill(s, &c);
                s.data.out.ok();
                Ok(())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    if !(args.len() - 2).is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut id = None;
    let mut ctype = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    for pair in args[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            match slotkv_protocol::parse_i64(val) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            }
        } else if is(opt, "type") {
            ctype = Some(parse_type(val)?);
        } else if is(opt, "addr") {
            addr = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "laddr") {
            laddr = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "user") {
            if val.as_ref() != b"default" {
                return Err(CmdError::err(format!(
                    "No such user '{}'",
                    String::from_utf8_lossy(val)
                )));
            }
        } else if is(opt, "skipme") {
            if is(val, "yes") {
                skipme = true;
            } else if is(val, "no") {
                skipme = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = crate::log::now_ms();
    let mut killed = 0;
    for c in s.shared.client_list() {
        if id.is_some_and(|i| i != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr.to_string())
            || laddr.as_ref().is_some_and(|a| *a != c.laddr.to_string())
            || (skipme && c.id == s.conn.id)
        {
            continue;
        }
        if let Some(t) = ctype {
            if type_of(&line_for(s, &c, now)) != t {
                continue;
            }
        }
        kill(s, &c);
        killed += 1;
    }
    s.data.out.int(killed);
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_no_evict(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    on_off(&args[2])?;
    s.data.out.ok();
    Ok(())
}

/// CLIENT REPLY state of a connection: replies are dropped while `off`, and for the one
/// command after CLIENT REPLY SKIP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyMode {
    pub off: bool,
    /// The reply of the command being run is dropped.
    pub skip: bool,
    /// The reply of the next command is dropped (set by CLIENT REPLY SKIP).
    pub skip_next: bool,
}

impl ReplyMode {
    #[inline]
    pub fn is_on(&self) -> bool {
        !self.off && !self.skip && !self.skip_next
    }

    /// After a command: drops its reply if needed and moves SKIP on to the next command.
    pub fn after_command(&mut self, out: &mut slotkv_protocol::ReplyWriter, mark: usize) {
        if self.off || self.skip {
            out.truncate(mark);
        }
        self.skip = false;
        if self.skip_next {
            self.skip_next = false;
            self.skip = true;
        }
    }
}

fn client_reply(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[2], "on") {
        s.conn.reply = ReplyMode::default();
        s.data.out.ok();
    } else if is(&args[2], "off") {
        s.conn.reply.off = true;
    } else if is(&args[2], "skip") {
        if !s.conn.reply.off {
            s.conn.reply.skip_next = true;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn client_pause(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let ms = slotkv_protocol::parse_i64(&args[2])
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    let all = match args.len() {
        3 => true,
        4 if is(&args[3], "write") => false,
        4 if is(&args[3], "all") => true,
        _ => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    s.shared.pause.pause(all, crate::log::now_ms().saturating_add(ms));
    s.data.out.ok();
    Ok(())
}

fn client_unpause(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.shared.pause.unpause();
    s.data.out.ok();
    Ok(())
}

fn client_tracking(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if on_off(&args[2])? {
        return Err(CmdError::err("CLIENT TRACKING is not supported by this server"));
    }
    s.data.out.ok();
    Ok(())
}

fn client_trackinginfo(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let out = &mut *s.data.out;
    out.map_len(3);
    out.bulk(b"flags");
    out.set_len(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array_len(0);
    Ok(())
}

fn client_getredir(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(-1);
    Ok(())
}

fn client_caching(_s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::err(
        "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
    ))
}

fn client_unblock(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let id = slotkv_protocol::parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let how = match args.len() {
        3 => crate::shared::UNBLOCK_TIMEOUT,
        4 if is(&args[3], "timeout") => crate::shared::UNBLOCK_TIMEOUT,
        4 if is(&args[3], "error") => crate::shared::UNBLOCK_ERROR,
        _ => return Err(CmdError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let target = s.shared.client_list().into_iter().find(|c| c.id as i64 == id);
    let done = target.is_some_and(|c| c.request_unblock(how));
    s.data.out.int(i64::from(done));
    Ok(())
}

fn client_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        s.data.out,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_line_format() {
        let line = ClientLine {
            id: 46,
            addr: "127.0.0.1:52352".into(),
            laddr: "127.0.0.1:6379".into(),
            name: String::new(),
            age_s: 0,
            idle_s: 0,
            flags: "N".into(),
            db: 0,
            sub: 0,
            psub: 0,
            multi: -1,
            qbuf: 26,
            cmd: "client|list".into(),
            resp: 2,
        };
        let s = format_client_line(&line);
        let keys: Vec<&str> = s
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "addr",
                "laddr",
                "fd",
                "name",
                "age",
                "idle",
                "flags",
                "db",
                "sub",
                "psub",
                "ssub",
                "multi",
                "qbuf",
                "qbuf-free",
                "argv-mem",
                "multi-mem",
                "rbs",
                "rbp",
                "obl",
                "oll",
                "omem",
                "tot-mem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp"
            ]
        );
        assert!(s.starts_with(
            "id=46 addr=127.0.0.1:52352 laddr=127.0.0.1:6379 fd=-1 name= age=0 idle=0 flags=N db=0"
        ));
        assert!(s.ends_with("cmd=client|list user=default redir=-1 resp=2"));
    }

    #[test]
    fn reply_mode_transitions() {
        let mut out = slotkv_protocol::ReplyWriter::default();
        let mut m = ReplyMode {
            skip_next: true,
            ..Default::default()
        };
        // CLIENT REPLY SKIP itself wrote nothing; the next command is skipped.
        m.after_command(&mut out, 0);
        assert!(m.skip && !m.is_on());
        out.simple("PONG");
        m.after_command(&mut out, 0);
        assert!(out.is_empty() && m.is_on());
        let mut off = ReplyMode {
            off: true,
            ..Default::default()
        };
        out.simple("PONG");
        off.after_command(&mut out, 0);
        assert!(out.is_empty() && !off.is_on());
    }
}
