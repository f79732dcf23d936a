//! Progress of long operations, for operators: a line at INFO at most
//! every [`interval`] (5 s unless [`INTERVAL_ENV`] says otherwise) while
//! the operation runs, so that a snapshot of gigabytes or a restore of
//! millions of rows is not minutes of silence.
//!
//! The operations that report and their messages:
//!
//! | message | unit | operation |
//! |---|---|---|
//! | `receiving a snapshot` | `bytes` | a follower receiving the leader's snapshot (field `leader`: the sender's id) |
//! | `sending a snapshot` | `bytes` | the leader streaming its snapshot to `peer` |
//! | `catching up a peer` | `entries` | the leader replicating to a `peer` that lags far behind |
//! | `restoring` | `rows` | `dqlite-server restore` (fields `db`, `file`) |
//!
//! Each line carries these stable fields besides its own:
//!
//! - `unit`: what `done` and `total` count (`bytes`, `entries`, `rows`);
//! - `done`, `total`: how far the operation got, of how much (for a
//!   catch-up, entries replicated since it began and those still to
//!   replicate added to them: the total grows while clients write);
//! - `percent`: `done` of `total`, 0 to 100, rounded down;
//! - `rate_per_sec`: units done per second, on average since the start;
//! - `eta_secs`: estimated seconds left at that rate, rounded up (absent
//!   while nothing is done yet);
//! - `elapsed_ms`: time since the operation began.
//!
//! The end of each operation has its own line (`installed a snapshot from
//! the leader`, `sent a snapshot`, `peer caught up`, `restore done`), and
//! an operation shorter than the interval logs no progress line at all.
//!
//! The reporter, [`Progress`], only decides when a line is due and what it
//! says; the [`log_progress!`] macro writes it with the fields above, next
//! to the caller's own.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Time between two progress lines of one operation, by default.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Environment variable that sets the time between two progress lines,
/// in milliseconds (`0`: a line at every step of an operation). Meant
/// for tests and diagnosis; read once per process, and ignored (the
/// default applies) unless it is a whole number.
pub(crate) const INTERVAL_ENV: &str = "DQLITE_PROGRESS_INTERVAL_MS";

/// Time between two progress lines of one operation: [`INTERVAL_ENV`]
/// if set to a whole number of milliseconds, else [`DEFAULT_INTERVAL`].
pub(crate) fn interval() -> Duration {
    static INTERVAL: OnceLock<Duration> = OnceLock::new();
    *INTERVAL.get_or_init(|| {
        std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_INTERVAL, Duration::from_millis)
    })
}

/// What an operation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Bytes,
    Entries,
    Rows,
}

impl Unit {
    /// The `unit` field's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Entries => "entries",
            Unit::Rows => "rows",
        }
    }
}

/// How far an operation got, as one progress line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) unit: Unit,
    pub(crate) done: u64,
    pub(crate) total: u64,
    /// `done` of `total`, 0 to 100, rounded down (100 for a total of 0).
    pub(crate) percent: u64,
    /// Units per second, on average since the start.
    pub(crate) rate_per_sec: u64,
    /// Seconds left at that rate, rounded up; `None` while nothing is done.
    pub(crate) eta_secs: Option<u64>,
    pub(crate) elapsed_ms: u64,
}

/// One long operation's progress: fed with how much is done, says when a
/// line is due (at most once per interval) and what it reports.
#[derive(Debug)]
pub(crate) struct Progress {
    unit: Unit,
    total: u64,
    started: Instant,
    last_line: Instant,
    interval: Duration,
}

impl Progress {
    /// An operation of `total` units starting now, reporting every
    /// [`interval`].
    pub(crate) fn new(unit: Unit, total: u64) -> Self {
        Self::with_interval(unit, total, interval())
    }

    /// An operation of `total` units that began at `started` (found
    /// out afterwards), reporting every [`interval`].
    pub(crate) fn since(unit: Unit, total: u64, started: Instant) -> Self {
        Self {
            started,
            last_line: started,
            ..Self::new(unit, total)
        }
    }

    /// An operation of `total` units starting now, reporting at most
    /// every `interval`.
    pub(crate) fn with_interval(unit: Unit, total: u64, interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            unit,
            total,
            started: now,
            last_line: now,
            interval,
        }
    }

    /// Changes the total (an operation whose size grows as it runs).
    pub(crate) fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    /// With `done` units done: the report to log if a line is due (the
    /// interval passed since the start or the last line), else `None`.
    pub(crate) fn step(&mut self, done: u64) -> Option<Report> {
        self.step_at(done, Instant::now())
    }

    fn step_at(&mut self, done: u64, now: Instant) -> Option<Report> {
        if now.saturating_duration_since(self.last_line) < self.interval {
            return None;
        }
        self.last_line = now;
        Some(self.report_at(done, now))
    }

    /// What a line says at `now` with `done` units done.
    fn report_at(&self, done: u64, now: Instant) -> Report {
        let elapsed = now.saturating_duration_since(self.started);
        let elapsed_ms = u128::from(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let (done_wide, total) = (u128::from(done), u128::from(self.total));
        let percent = (done_wide.min(total) * 100)
            .checked_div(total)
            .unwrap_or(100);
        // Whole milliseconds, at least one, so that a step right at the
        // start does not divide by zero.
        let rate = done_wide * 1000 / elapsed_ms.max(1);
        let left = total.saturating_sub(done_wide);
        // left / (done / elapsed), rounded up, in seconds.
        let eta = (done > 0).then(|| (left * elapsed_ms).div_ceil(done_wide * 1000));
        let narrow = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Report {
            unit: self.unit,
            done,
            total: self.total,
            percent: narrow(percent),
            rate_per_sec: narrow(rate),
            eta_secs: eta.map(narrow),
            elapsed_ms: narrow(elapsed_ms),
        }
    }
}

/// Logs a [`Report`] at INFO with the module's stable fields after the
/// caller's own: `log_progress!(report, "sending a snapshot", peer = 2)`.
macro_rules! log_progress {
    ($report:expr, $message:literal $(, $($field:tt)+)?) => {{
        let report: $crate::progress::Report = $report;
        match report.eta_secs {
            Some(eta_secs) => tracing::info!(
                $($($field)+,)?
                unit = report.unit.as_str(),
                done = report.done,
                total = report.total,
                percent = report.percent,
                rate_per_sec = report.rate_per_sec,
                eta_secs,
                elapsed_ms = report.elapsed_ms,
                $message
            ),
            None => tracing::info!(
                $($($field)+,)?
                unit = report.unit.as_str(),
                done = report.done,
                total = report.total,
                percent = report.percent,
                rate_per_sec = report.rate_per_sec,
                elapsed_ms = report.elapsed_ms,
                $message
            ),
        }
    }};
}
pub(crate) use log_progress;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_due_once_per_interval() {
        let mut p = Progress::with_interval(Unit::Bytes, 100, Duration::from_secs(5));
        let t0 = p.started;
        assert_eq!(p.step_at(10, t0 + Duration::from_secs(4)), None);
        assert!(p.step_at(20, t0 + Duration::from_secs(5)).is_some());
        assert_eq!(p.step_at(30, t0 + Duration::from_secs(9)), None);
        assert!(p.step_at(40, t0 + Duration::from_secs(10)).is_some());
    }

    #[test]
    fn rate_and_time_left_come_from_the_average_since_the_start() {
        let mut p = Progress::with_interval(Unit::Bytes, 1000, Duration::from_secs(5));
        let t0 = p.started;
        let r = p.step_at(250, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(r.done, 250);
        assert_eq!(r.total, 1000);
        assert_eq!(r.percent, 25);
        assert_eq!(r.rate_per_sec, 50);
        // 750 left at 50 a second.
        assert_eq!(r.eta_secs, Some(15));
        assert_eq!(r.elapsed_ms, 5000);
        assert_eq!(r.unit.as_str(), "bytes");
        // Rounded up: 1 left at 999 per 5 s is under a second.
        let r = p.step_at(999, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!((r.percent, r.eta_secs), (99, Some(1)));
    }

    #[test]
    fn nothing_done_has_no_estimate_and_odd_totals_do_not_panic() {
        let mut p = Progress::with_interval(Unit::Rows, 0, Duration::ZERO);
        let t0 = p.started;
        let r = p.step_at(0, t0).unwrap();
        assert_eq!((r.percent, r.rate_per_sec, r.eta_secs), (100, 0, None));
        // More done than announced (a total that grew): 100%, nothing left.
        p.set_total(10);
        let r = p.step_at(u64::MAX, t0 + Duration::from_millis(1)).unwrap();
        assert_eq!((r.percent, r.eta_secs), (100, Some(0)));
        assert_eq!(r.rate_per_sec, u64::MAX);
    }
}
