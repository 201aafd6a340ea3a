//! Log lines in Redis's format, `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, so
//! that operators' scripts and test tools that wait on Redis log lines work unchanged.
//! Level marks: `.` debug, `-` verbose, `*` notice, `#` warning.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events like Redis's `serverLogRaw`.
pub struct RedisFormat {
    pub pid: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `dd Mon yyyy hh:mm:ss.mmm` in UTC from Unix milliseconds.
pub fn format_timestamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mark = match *event.metadata().level() {
            Level::ERROR | Level::WARN => '#',
            Level::INFO => '*',
            Level::DEBUG => '-',
            Level::TRACE => '.',
        };
        write!(writer, "{}:M {} {} ", self.pid, format_timestamp(now_ms()), mark)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Maps Redis's `loglevel` names to a tracing filter.
pub fn level_filter(loglevel: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match loglevel {
        "debug" => LevelFilter::TRACE,
        "verbose" => LevelFilter::DEBUG,
        "warning" => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    }
}

/// Where log lines go: stdout, or a file opened in append mode (`logfile`).
pub enum LogSink {
    Stdout,
    File(Mutex<std::fs::File>),
}

impl LogSink {
    pub fn open(logfile: &str) -> std::io::Result<Self> {
        if logfile.is_empty() {
            Ok(LogSink::Stdout)
        } else {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)?;
            Ok(LogSink::File(Mutex::new(f)))
        }
    }
}

/// A writer handle per event.
pub struct SinkWriter<'a>(&'a LogSink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0 {
            LogSink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()?;
                Ok(buf.len())
            }
            LogSink::File(f) => {
                let mut f = f
                    .lock()
                    .map_err(|_| std::io::Error::other("log file lock poisoned"))?;
                f.write_all(buf)?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = SinkWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self)
    }
}

/// Installs the global subscriber.
pub fn init(logfile: &str, loglevel: &str) -> std::io::Result<()> {
    let sink = LogSink::open(logfile)?;
    let subscriber = tracing_subscriber::fmt()
        .event_format(RedisFormat {
            pid: std::process::id(),
        })
        .with_max_level(level_filter(loglevel))
        .with_writer(sink)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_format() {
        assert_eq!(super::format_timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::format_timestamp(1_795_000_000_123),
            "18 Nov 2026 11:06:40.123"
        );
    }
}
