//! A `dqlite-server` process whose stderr goes to a file, for the suites
//! that read what it logs (with the default filter: `RUST_LOG` unset);
//! killed when dropped. Shared by several test crates, each using part
//! of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every wait here is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// A `dqlite-server` process whose stderr goes to a file; killed when
/// dropped.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts the binary with `args`, the default log filter and no
    /// terminal: stderr appended to `log`.
    pub(crate) fn start(args: &[&str], log: &Path) -> Server {
        Self::start_with_env(args, &[], log)
    }

    /// [`start`](Self::start) with environment variables `env` set.
    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, &str)], log: &Path) -> Server {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Server {
            child,
            log: log.to_owned(),
        }
    }

    /// The log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds a line containing every one of
    /// `needles`, and returns the first; panics after [`WAIT`].
    pub(crate) fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(line) = self
                .log()
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_owned();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no line with {needles:?} in:\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the exit (bounded): the status and
    /// how long it took.
    pub(crate) fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = wait_bounded(&mut self.child);
        (status, started.elapsed())
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to [`WAIT`] for `child` to exit.
pub(crate) fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the server did not exit within {WAIT:?}");
}
