//! Unix sockets that other processes of this host connect to: what
//! `dqlite-server --address unix:PATH` (a socket file) and `--address
//! @name` (Linux's abstract namespace) listen on, for single-host
//! deployments where the operating system's users are the access control.
//!
//! Who gets in:
//!
//! - a **socket file**: whoever its permissions let in. It is created
//!   with mode [`SOCKET_FILE_MODE`] (0600, whatever the umask) before the
//!   socket listens, so no connection can arrive while the mode is wider:
//!   the server's user (and root). Changing its mode or owner afterwards
//!   widens that, for as long as this file lives.
//! - an **abstract socket** has no permissions (any process in the same
//!   network namespace can connect), so the listener admits only
//!   processes that run as the server's effective user, or as root
//!   (`admits`, from the kernel's `SO_PEERCRED`), and closes the others.
//!
//! A socket file left by a node that died (nothing accepts on it) is
//! removed when the next one binds; a path that something still listens
//! on, or that is not a socket, is refused and left alone. The file is
//! removed when the listener is dropped (the node stopped), provided it is
//! still the one this listener bound.
//!
//! This module imports nothing of its parent: [`super`] builds its
//! `Listener` and `AsyncListener` variants from [`LocalSocket`].

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

/// Mode of a socket file: read and write (connect) for its owner only.
pub const SOCKET_FILE_MODE: u32 = 0o600;

/// Connections a socket queues before they are accepted.
const BACKLOG: i32 = 1024;

/// A bound and listening Unix socket for the processes of this host: a
/// socket file (removed again when this is dropped) or an abstract name.
#[derive(Debug)]
pub struct LocalSocket {
    listener: UnixListener,
    file: Option<SocketFile>,
}

impl LocalSocket {
    /// Creates the socket file `path`, mode [`SOCKET_FILE_MODE`], and
    /// listens on it. An existing socket file that nothing listens on is
    /// replaced; one that something listens on, or anything that is not
    /// a socket, is refused ([`io::ErrorKind::AddrInUse`],
    /// [`io::ErrorKind::AlreadyExists`]).
    pub fn bind_file(path: &Path) -> io::Result<Self> {
        remove_stale(path)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        // From here on the file is ours: dropping `file` removes it, on
        // success as on failure.
        let file = SocketFile::of(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_FILE_MODE))?;
        socket.listen(BACKLOG)?;
        Ok(LocalSocket {
            listener: socket.into(),
            file: Some(file),
        })
    }

    /// A listening abstract socket (bound by the caller, who parses and
    /// names it).
    pub fn from_abstract(listener: UnixListener) -> Self {
        LocalSocket {
            listener,
            file: None,
        }
    }

    /// The socket file's path; `None` for an abstract socket.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// The listening socket.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// The socket, and what removes its file when dropped.
    pub(crate) fn into_parts(self) -> (UnixListener, Option<SocketFile>) {
        (self.listener, self.file)
    }
}

/// A socket file this process created: removed when dropped, unless
/// another file has taken its path since (another node replaced it, an
/// operator moved it away).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    /// The socket file at `path`, just bound.
    fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_owned(),
            device: meta.dev(),
            inode: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.device && m.ino() == self.inode);
        if !ours {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::debug!(path = %self.path.display(), "removed the socket file"),
            Err(e) => tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "cannot remove the socket file"
            ),
        }
    }
}

/// Removes a stale socket file at `path`: one that nothing listens on.
/// Nothing at `path` is fine; a live socket or another kind of file is an
/// error that names it.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            ),
        ));
    }
    if listening(path)? {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another process listens on {}", path.display()),
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a stale socket file (nothing listened on it)");
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether something accepts connections on the socket file `path`: a
/// connection attempt that does not wait. A full queue (`EAGAIN`) means a
/// listener too; "refused" or a vanished file means none.
fn listening(path: &Path) -> io::Result<bool> {
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot tell whether {} is in use: {e}", path.display()),
        )),
    }
}

/// Whether a process running as `uid` may use an abstract socket of this
/// process: the same effective user, or root.
pub(crate) fn admits(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let own = unsafe { libc::geteuid() };
    uid == 0 || uid == own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_file_is_private_replaces_a_stale_one_and_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sock");
        let socket = LocalSocket::bind_file(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, SOCKET_FILE_MODE);
        assert!(listening(&path).unwrap());
        // Live: a second bind is refused and leaves it in place.
        let err = LocalSocket::bind_file(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(path.exists());
        drop(socket);
        assert!(!path.exists(), "removed when dropped");

        // A stale file: its listener closed without removing it (as a
        // killed node leaves it), so connecting is refused.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (listener, file) = LocalSocket::from_abstract(stale).into_parts();
        assert!(file.is_none());
        drop(listener);
        assert!(path.exists() && !listening(&path).unwrap());
        let socket = LocalSocket::bind_file(&path).unwrap();
        assert!(listening(&path).unwrap());
        assert_eq!(socket.path(), Some(path.as_path()));
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"keep me").unwrap();
        let err = LocalSocket::bind_file(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn a_file_that_replaced_ours_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sock");
        let socket = LocalSocket::bind_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        drop(socket);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    }

    #[test]
    fn abstract_sockets_admit_the_own_user_and_root() {
        // SAFETY: as in `admits`.
        let own = unsafe { libc::geteuid() };
        assert!(admits(own));
        assert!(admits(0));
        let other = if own == 65534 { 65533 } else { 65534 };
        assert!(!admits(other));
    }
}
