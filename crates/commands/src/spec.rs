//! Command metadata: the one table that drives dispatch, arity checks, `COMMAND` replies,
//! key extraction for routing, and ACL categories.
//!
//! A [`CommandSpec`] is generic over its handler so that data commands (this crate) and
//! connection/server commands (the server crate) share the same metadata type and land in
//! one table.

use bytes::Bytes;

/// Command flags, named as Redis 7.0 reports them in `COMMAND INFO`.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const ASKING: u32 = 1 << 11;
    pub const FAST: u32 = 1 << 12;
    pub const NO_AUTH: u32 = 1 << 13;
    pub const MAY_REPLICATE: u32 = 1 << 14;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 15;
    pub const NO_ASYNC_LOADING: u32 = 1 << 16;
    pub const NO_MULTI: u32 = 1 << 17;
    pub const ALLOW_BUSY: u32 = 1 << 18;
    pub const SENTINEL: u32 = 1 << 19;

    /// Names in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// The command group (`COMMAND DOCS` "group" and the base ACL category).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    List,
    Set,
    SortedSet,
    Hash,
    PubSub,
    Transactions,
    Connection,
    Server,
    Scripting,
    HyperLogLog,
    Cluster,
    Geo,
    Stream,
    Bitmap,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::PubSub => "pubsub",
            Group::Transactions => "transactions",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Scripting => "scripting",
            Group::HyperLogLog => "hyperloglog",
            Group::Cluster => "cluster",
            Group::Geo => "geo",
            Group::Stream => "stream",
            Group::Bitmap => "bitmap",
        }
    }

    fn acl_category(self) -> Option<&'static str> {
        Some(match self {
            Group::Generic => "@keyspace",
            Group::String => "@string",
            Group::List => "@list",
            Group::Set => "@set",
            Group::SortedSet => "@sortedset",
            Group::Hash => "@hash",
            Group::PubSub => "@pubsub",
            Group::Transactions => "@transaction",
            Group::Connection => "@connection",
            Group::Scripting => "@scripting",
            Group::HyperLogLog => "@hyperloglog",
            Group::Geo => "@geo",
            Group::Stream => "@stream",
            Group::Bitmap => "@bitmap",
            Group::Server | Group::Cluster => return None,
        })
    }
}

/// Finds the positions of the keys of a command whose keys cannot be described by
/// first/last/step (`movablekeys`). Returns positions into `args` (args[0] is the name).
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// One command (or subcommand, named `parent|sub`).
#[derive(Debug, Clone)]
pub struct CommandSpec<H> {
    /// Lower-case name; subcommands are `parent|sub`.
    pub name: &'static str,
    /// Redis arity: N exact, -N at least N (the name counts).
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub keys_fn: Option<KeysFn>,
    pub group: Group,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// Extra ACL categories beyond the ones derived from group and flags (e.g. "@dangerous").
    pub acl_extra: &'static [&'static str],
    pub subcommands: Vec<CommandSpec<H>>,
    pub handler: H,
}

/// Shorthand constructor; refine with the builder methods.
pub fn cmd<H>(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: Group,
    handler: H,
) -> CommandSpec<H> {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        keys_fn: None,
        group,
        since: "1.0.0",
        summary: "",
        complexity: "",
        acl_extra: &[],
        subcommands: Vec::new(),
        handler,
    }
}

impl<H> CommandSpec<H> {
    pub fn since(mut self, v: &'static str) -> Self {
        self.since = v;
        self
    }
    pub fn summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }
    pub fn complexity(mut self, s: &'static str) -> Self {
        self.complexity = s;
        self
    }
    pub fn keys_fn(mut self, f: KeysFn) -> Self {
        self.keys_fn = Some(f);
        self
    }
    pub fn acl(mut self, cats: &'static [&'static str]) -> Self {
        self.acl_extra = cats;
        self
    }
    pub fn subs(mut self, subs: Vec<CommandSpec<H>>) -> Self {
        self.subcommands = subs;
        self
    }

    /// Converts the handler type (data handlers into the server's handler enum).
    pub fn map_handler<G>(self, f: &impl Fn(H) -> G) -> CommandSpec<G> {
        CommandSpec {
            name: self.name,
            arity: self.arity,
            flags: self.flags,
            first_key: self.first_key,
            last_key: self.last_key,
            step: self.step,
            keys_fn: self.keys_fn,
            group: self.group,
            since: self.since,
            summary: self.summary,
            complexity: self.complexity,
            acl_extra: self.acl_extra,
            subcommands: self.subcommands.into_iter().map(|s| s.map_handler(f)).collect(),
            handler: f(self.handler),
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn is_movable(&self) -> bool {
        self.keys_fn.is_some()
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    #[inline]
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// The name as shown in errors and COMMAND (subcommands as `parent|sub`).
    pub fn full_name(&self) -> &'static str {
        self.name
    }

    /// Positions of the key arguments in `args`.
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(args);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1);
        let mut out = Vec::new();
        let mut i = self.first_key;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step;
        }
        out
    }

    /// Flag names for COMMAND INFO (with `movablekeys` when keys are found by a function).
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = flags::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if self.is_movable() {
            v.push("movablekeys");
        }
        v
    }

    /// ACL categories, derived as Redis derives them from the group and flags, listed in
    /// Redis's fixed category order (`ACL CAT` order).
    pub fn acl_categories(&self) -> Vec<&'static str> {
        // A container command (CONFIG, CLIENT...) is only `@slow`; its subcommands carry
        // the real categories.
        if !self.subcommands.is_empty() && self.flags == 0 {
            return vec!["@slow"];
        }
        let mut set: Vec<&'static str> = Vec::new();
        if let Some(c) = self.group.acl_category() {
            set.push(c);
        }
        if self.has(flags::WRITE) {
            set.push("@write");
        }
        if self.has(flags::READONLY) && !matches!(self.group, Group::Scripting) {
            set.push("@read");
        }
        if self.has(flags::ADMIN) {
            set.push("@admin");
            set.push("@dangerous");
        }
        if self.has(flags::PUBSUB) && self.group != Group::PubSub {
            set.push("@pubsub");
        }
        if self.has(flags::FAST) {
            set.push("@fast");
        } else {
            set.push("@slow");
        }
        if self.has(flags::BLOCKING) {
            set.push("@blocking");
        }
        set.extend(self.acl_extra.iter().copied());
        ACL_CATEGORY_ORDER
            .iter()
            .copied()
            .filter(|c| set.contains(c))
            .collect()
    }
}

/// Redis's ACL categories in the fixed order it lists them.
pub const ACL_CATEGORY_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// Key positions for commands of the form `CMD numkeys key [key ...]` starting at `at`.
pub fn keys_numkeys_at(args: &[Bytes], at: usize) -> Vec<usize> {
    let Some(n) = args.get(at).and_then(|a| slotkv_protocol::parse_i64(a)) else {
        return Vec::new();
    };
    if n <= 0 {
        return Vec::new();
    }
    let n = n as usize;
    (at + 1..args.len()).take(n).collect()
}
