//! The node's command table: the data commands of `slotkv-commands` plus the connection,
//! server, transaction and pub/sub commands of this crate, in one map that drives
//! dispatch, arity checks, COMMAND and key extraction.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use slotkv_commands::{CmdError, CmdResult, CommandSpec, DataFn};

use crate::exec::SrvCtx;

/// A handler of a command that needs the connection or server state.
pub type SrvFn = fn(&mut SrvCtx<'_>, &[Bytes]) -> CmdResult;

/// What runs a command.
#[derive(Clone, Copy)]
pub enum Handler {
    Data(DataFn),
    Srv(SrvFn),
}

pub type Spec = CommandSpec<Handler>;

/// Name → command, with subcommands resolved by [`CommandTable::resolve`].
pub struct CommandTable {
    /// ahash: the table is looked up for every command, and its keys are fixed names.
    map: HashMap<Vec<u8>, Arc<Spec>, ahash::RandomState>,
}

impl CommandTable {
    pub fn new(specs: Vec<Spec>) -> Self {
        let map = specs
            .into_iter()
            .map(|s| (s.name.as_bytes().to_vec(), Arc::new(s)))
            .collect();
        Self { map }
    }

    /// The standard table of this node.
    pub fn standard() -> Self {
        let mut specs: Vec<Spec> = slotkv_commands::data_commands()
            .into_iter()
            .map(|s| s.map_handler(&Handler::Data))
            .collect();
        specs.extend(crate::cmds::specs());
        specs.extend(crate::replication::specs());
        Self::new(specs)
    }

    /// Top-level command by name, case-insensitively, without allocating for short names.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<&Arc<Spec>> {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            let lower = &mut buf[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            self.map.get(&lower[..])
        } else {
            self.map.get(&name.to_ascii_lowercase())
        }
    }

    /// Finds the command (or subcommand) for a request and checks its arity, producing
    /// Redis's exact errors for unknown commands, unknown subcommands and wrong arity.
    pub fn resolve<'a>(&'a self, args: &[Bytes]) -> Result<&'a Spec, CmdError> {
        let Some(spec) = self.lookup(&args[0]) else {
            return Err(unknown_command(args));
        };
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            let sub = args[1].to_ascii_lowercase();
            let found = spec.subcommands.iter().find(|s| {
                s.name
                    .split_once('|')
                    .map(|(_, n)| n.as_bytes() == sub.as_slice())
                    .unwrap_or(false)
            });
            return match found {
                Some(s) if s.arity_ok(args.len()) => Ok(s),
                Some(s) => Err(CmdError::WrongArity(s.name.to_string())),
                None => Err(CmdError::UnknownSubcommand(
                    truncate_lossy(&args[1], 128),
                    spec.name.to_ascii_uppercase(),
                )),
            };
        }
        if !spec.arity_ok(args.len()) {
            return Err(CmdError::WrongArity(spec.name.to_string()));
        }
        Ok(spec)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Spec>> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn truncate_lossy(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `
pub fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let remaining = 128 - rest.len();
        rest.push('\'');
        rest.push_str(&truncate_lossy(a, remaining));
        rest.push_str("' ");
    }
    CmdError::UnknownCommand(truncate_lossy(&args[0], 128), rest)
}
