//! Command line options, spelled as redis-cli spells them (`-h` is the host; help is
//! `--help` only).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

/// slotkv-cli: a redis-cli compatible client.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "slotkv-cli",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true,
    override_usage = "slotkv-cli [OPTIONS] [cmd [arg [arg ...]]]"
)]
pub struct Opts {
    /// Server hostname.
    #[arg(short = 'h', value_name = "hostname", default_value = "127.0.0.1")]
    pub host: String,

    /// Server port.
    #[arg(short = 'p', value_name = "port", default_value_t = 6379)]
    pub port: u16,

    /// Password to use when connecting to the server (also REDISCLI_AUTH).
    #[arg(short = 'a', value_name = "password")]
    pub password: Option<String>,

    /// Alias of -a for consistency with the new --user option.
    #[arg(long = "pass", value_name = "password")]
    pub pass: Option<String>,

    /// Used to send ACL style 'AUTH username pass'. Needs -a.
    #[arg(long = "user", value_name = "username")]
    pub user: Option<String>,

    /// Don't show warning message when using password on command line interface.
    #[arg(long = "no-auth-warning")]
    pub no_auth_warning: bool,

    /// Server URI: redis://[[user]:password@]host[:port][/db].
    #[arg(short = 'u', value_name = "uri")]
    pub uri: Option<String>,

    /// Database number.
    #[arg(short = 'n', value_name = "db", value_parser = c_integer, allow_negative_numbers = true)]
    pub db: Option<i64>,

    /// Start session in RESP3 protocol mode.
    #[arg(short = '3')]
    pub resp3: bool,

    /// Start session in RESP2 protocol mode (the default).
    #[arg(short = '2')]
    pub resp2: bool,

    /// Execute specified command N times (-1: forever).
    #[arg(short = 'r', value_name = "repeat", value_parser = c_integer, allow_negative_numbers = true)]
    pub repeat: Option<i64>,

    /// When -r is used, waits <interval> seconds per command (e.g. -i 0.1).
    #[arg(short = 'i', value_name = "interval", value_parser = c_double)]
    pub interval: Option<f64>,

    /// Read last argument from STDIN.
    #[arg(short = 'x')]
    pub stdin_last_arg: bool,

    /// Delimiter between response bulks for raw formatting (default: \n).
    #[arg(short = 'd', value_name = "delimiter")]
    pub bulk_delim: Option<String>,

    /// Delimiter between responses for raw formatting (default: \n).
    #[arg(short = 'D', value_name = "delimiter")]
    pub cmd_delim: Option<String>,

    /// Enable cluster mode (follow -ASK and -MOVED redirections).
    #[arg(short = 'c')]
    pub cluster: bool,

    /// Return exit error code when command execution fails.
    #[arg(short = 'e')]
    pub errcode: bool,

    /// Use raw formatting for replies (default when STDOUT is not a tty).
    #[arg(long = "raw")]
    pub raw: bool,

    /// Force formatted output even when STDOUT is not a tty.
    #[arg(long = "no-raw")]
    pub no_raw: bool,

    /// Output in CSV format.
    #[arg(long = "csv")]
    pub csv: bool,

    /// Transfer an RDB dump from the server to a local file (`-` for stdout), using the
    /// replication protocol (SYNC).
    #[arg(long = "rdb", value_name = "filename")]
    pub rdb: Option<String>,

    /// Output this help and exit.
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Output version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Which of --raw, --no-raw and --csv came last (redis-cli lets the last one win); set by
    /// [`Opts::from_args`], derived from the three flags otherwise.
    #[arg(skip)]
    pub output_flag: Option<OutputFlag>,

    /// `--cluster <subcommand> [args] [--cluster-* options]`, taken out of the command line
    /// before the other options are parsed (see [`crate::cluster_admin::extract`]).
    #[arg(skip)]
    pub cluster_admin: Option<crate::cluster_admin::ClusterCommand>,

    /// The command to run, with its arguments. Without one, commands are read from the
    /// prompt (or from stdin, one per line, when stdin is not a terminal).
    #[arg(trailing_var_arg = true, value_name = "cmd")]
    pub command: Vec<OsString>,
}

/// `atoi`/`strtoll`: leading integer, 0 when there is none (redis-cli never refuses these).
fn c_integer(s: &str) -> Result<i64, std::convert::Infallible> {
    Ok(crate::atoi(s.as_bytes()))
}

/// `strtod`: the longest leading number, 0 when there is none.
fn c_double(s: &str) -> Result<f64, std::convert::Infallible> {
    let t = s.trim_start();
    let end = (0..=t.len())
        .rev()
        .find(|&i| t.is_char_boundary(i) && t[..i].parse::<f64>().is_ok());
    Ok(end.map(|i| t[..i].parse().unwrap_or(0.0)).unwrap_or(0.0))
}

/// An output-mode option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFlag {
    Raw,
    NoRaw,
    Csv,
}

impl Opts {
    /// Parses a command line (program name first). Unknown options and missing values are
    /// reported as redis-cli reports them (`Unrecognized option or bad number of args for:
    /// '--foo'`, exit status 1); `--help` and `--version` print and exit 0.
    pub fn from_args<I, T>(args: I) -> Opts
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let (args, cluster_admin) = crate::cluster_admin::extract(args);
        let cluster_admin = match cluster_admin {
            Some(Err(msg)) => {
                eprintln!("{msg}");
                std::process::exit(1);
            }
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let matches = match Opts::command().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
                _ => {
                    let arg = match e.get(ContextKind::InvalidArg) {
                        Some(ContextValue::String(s)) => {
                            s.split_whitespace().next().unwrap_or("").to_string()
                        }
                        _ => String::new(),
                    };
                    if arg.is_empty() {
                        let _ = e.print();
                    } else {
                        eprintln!("Unrecognized option or bad number of args for: '{arg}'");
                    }
                    std::process::exit(1);
                }
            },
        };
        let mut opts = match Opts::from_arg_matches(&matches) {
            Ok(o) => o,
            Err(e) => e.exit(),
        };
        let last = |id: &str| {
            if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                matches.indices_of(id).and_then(|i| i.max())
            } else {
                None
            }
        };
        opts.output_flag = [
            (last("raw"), OutputFlag::Raw),
            (last("no_raw"), OutputFlag::NoRaw),
            (last("csv"), OutputFlag::Csv),
        ]
        .into_iter()
        .filter_map(|(i, f)| i.map(|i| (i, f)))
        .max_by_key(|(i, _)| *i)
        .map(|(_, f)| f);
        opts.cluster_admin = cluster_admin;
        opts
    }

    /// The output option in force: the last one given.
    pub fn output_flag(&self) -> Option<OutputFlag> {
        self.output_flag.or(if self.csv {
            Some(OutputFlag::Csv)
        } else if self.no_raw {
            Some(OutputFlag::NoRaw)
        } else if self.raw {
            Some(OutputFlag::Raw)
        } else {
            None
        })
    }
}
