//! Running data commands without sockets, for the handlers' tests: arity checks, the
//! handler, and the RESP2 reply as bytes.

use std::collections::HashMap;

use bytes::Bytes;
use slotkv_keyspace::Keyspace;
use slotkv_protocol::{ProtocolVersion, ReplyWriter};

use crate::{data_commands, CmdError, CommandSpec, Ctx, DataFn};

/// A keyspace plus the command table, driven command by command.
pub struct Harness {
    pub ks: Keyspace,
    pub now_ms: i64,
    pub db: usize,
    pub version: ProtocolVersion,
    table: HashMap<String, CommandSpec<DataFn>>,
    /// Commands to propagate so far (verbatim or rewritten).
    pub propagated: Vec<Vec<Bytes>>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let table = data_commands()
            .into_iter()
            .map(|c| (c.name.to_string(), c))
            .collect();
        Self {
            ks: Keyspace::new(16),
            now_ms: 1_700_000_000_000,
            db: 0,
            version: ProtocolVersion::Resp2,
            table,
            propagated: Vec::new(),
        }
    }

    /// Runs one command (space-separated words, no quoting) and returns the RESP reply.
    pub fn run(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        self.run_args(&args)
    }

    /// Runs one command given as separate arguments and returns the RESP reply as text.
    pub fn run_args(&mut self, args: &[&[u8]]) -> String {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = ReplyWriter::new(self.version);
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        let Some(mut spec) = self.table.get(&name) else {
            return format!("unknown command {name}");
        };
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            let sub = format!("{}|{}", name, String::from_utf8_lossy(&args[1]).to_lowercase());
            match spec.subcommands.iter().find(|s| s.name == sub) {
                Some(s) => spec = s,
                None => return format!("unknown subcommand {sub}"),
            }
        }
        let result = if !spec.arity_ok(args.len()) {
            Err(CmdError::WrongArity(spec.name.to_string()))
        } else {
            let mut ctx = Ctx::new(&mut self.ks, self.db, &mut out, self.now_ms);
            let r = (spec.handler)(&mut ctx, &args);
            if r.is_ok() && ctx.dirty > 0 {
                match ctx.propagate_as.take() {
                    Some(cmds) => self.propagated.extend(cmds),
                    None => self.propagated.push(args.clone()),
                }
            }
            r
        };
        if let Err(e) = result {
            out.error(&e.to_string());
        }
        String::from_utf8_lossy(&out.buf).into_owned()
    }
}
