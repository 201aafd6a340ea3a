//! SAVE and BGSAVE. The mechanics are in `crate::persist`.

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};

use super::*;
use crate::exec::SrvCtx;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Server;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd(
            "save",
            1,
            ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
            (0, 0, 0),
            g,
            h(save),
        ),
        cmd(
            "bgsave",
            -1,
            ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
            (0, 0, 0),
            g,
            h(bgsave),
        ),
        cmd(
            "bgrewriteaof",
            1,
            ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
            (0, 0, 0),
            g,
            h(bgrewriteaof),
        ),
    ]
}

fn save(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    if s.rest.save.child.is_some() {
        return Err(CmdError::err("Background save already in progress"));
    }
    crate::persist::save_foreground(s.shared, s.data.ks, s.rest).map_err(|_| CmdError::Raw("ERR".into()))?;
    s.data.out.ok();
    Ok(())
}

fn bgsave(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let schedule = match args.len() {
        1 => false,
        2 if is(&args[1], "schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    if s.rest.save.child.is_some() {
        if schedule {
            s.data.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::err("Background save already in progress"));
    }
    crate::persist::start_bgsave(s.shared, s.data.ks, s.rest).map_err(CmdError::Raw)?;
    s.data.out.simple("Background saving started");
    Ok(())
}

fn bgrewriteaof(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    crate::aof::start_rewrite(s.shared, s.data.ks, s.rest).map_err(CmdError::Raw)?;
    s.data.out.simple("Background append only file rewriting started");
    Ok(())
}
