//! Sockets a node serves on and dials with: TCP, abstract Unix sockets
//! (`@name`) as dqlite and go-dqlite's `app` use them, and Unix socket
//! files (`unix:PATH`, this project's form: [`local`]); and the [`Dialer`]
//! through which every outgoing node-to-node connection is opened (Raft
//! calls, joining, role management), which an embedding program may
//! replace (the C API's connect function, TLS tunnels, socket pairs).
//! A [`Stream`] may also be a TLS session over one of these (see
//! [`crate::tls`], which wraps the dialer and the accepted connections).

pub mod local;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use local::LocalSocket;
use local::SocketFile;

/// Port of an address given without one, as in dqlite.
pub const DEFAULT_PORT: u16 = 8080;

/// A bound, not yet accepting, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket.
    Tcp(std::net::TcpListener),
    /// A Unix socket (abstract namespace); it accepts connections from
    /// this process only, as dqlite's do.
    Unix(UnixListener),
    /// A Unix socket for the processes of this host (`dqlite-server`'s
    /// `unix:PATH` and `@name`; see [`local`] for who gets in).
    Local(LocalSocket),
}

impl From<LocalSocket> for Listener {
    fn from(socket: LocalSocket) -> Self {
        Listener::Local(socket)
    }
}

impl From<std::net::TcpListener> for Listener {
    fn from(listener: std::net::TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl From<UnixListener> for Listener {
    fn from(listener: UnixListener) -> Self {
        Listener::Unix(listener)
    }
}

/// Where an address in dqlite's forms points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `a.b.c.d[:port]`, `[v6]:port` or a bare IPv6 address.
    Tcp(SocketAddr),
    /// `@name`: an abstract Unix socket.
    Abstract(Vec<u8>),
    /// `@` alone: an abstract Unix socket the kernel names.
    Autobind,
    /// `unix:/absolute/path`: a Unix socket file (not a dqlite form:
    /// this project's, for single-host deployments).
    Path(PathBuf),
}

impl Endpoint {
    /// Parses dqlite's address forms, numeric hosts only (no DNS), port
    /// [`DEFAULT_PORT`] when none is given; and `unix:PATH` with an
    /// absolute path (every node and client dials the address a node
    /// advertises, so it cannot depend on a working directory).
    pub fn parse(address: &str) -> io::Result<Endpoint> {
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{address:?} is not a numeric IP address with an optional port, nor @name, nor unix:/path"
                ),
            )
        };
        if let Some(path) = address.strip_prefix(UNIX_PREFIX) {
            return parse_socket_path(path).map(Endpoint::Path);
        }
        if let Some(name) = address.strip_prefix('@') {
            if name.is_empty() {
                return Ok(Endpoint::Autobind);
            }
            // sun_path is 108 bytes, one taken by the leading NUL.
            if name.len() > 107 {
                return Err(invalid());
            }
            return Ok(Endpoint::Abstract(name.as_bytes().to_vec()));
        }
        if let Ok(socket) = address.parse::<SocketAddr>() {
            return Ok(Endpoint::Tcp(socket));
        }
        match address.parse::<IpAddr>() {
            Ok(ip) => Ok(Endpoint::Tcp(SocketAddr::new(ip, DEFAULT_PORT))),
            Err(_) => Err(invalid()),
        }
    }
}

/// The prefix of a Unix socket file's address.
pub const UNIX_PREFIX: &str = "unix:";

/// The path of `unix:PATH`: absolute, and short enough for `sun_path`
/// (108 bytes with the terminating NUL).
fn parse_socket_path(path: &str) -> io::Result<PathBuf> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("\"{UNIX_PREFIX}{path}\" is not a Unix socket address: {why}"),
        )
    };
    if !path.starts_with('/') {
        return Err(invalid("the path must be absolute"));
    }
    if path.len() > 107 {
        return Err(invalid("the path is longer than 107 bytes"));
    }
    if path.contains('\0') {
        return Err(invalid("the path holds a NUL byte"));
    }
    Ok(PathBuf::from(path))
}

/// Whether `address` can be a member's address: one that the default
/// dialer ([`DefaultDialer`]) can reach. Accepted: every form go-dqlite and LXD use, that is
/// `ip:port`, `[v6]:port`, a bare IP (port [`DEFAULT_PORT`]), `@name` (an
/// abstract socket), `unix:/path` (a socket file: not understood by
/// go-dqlite or the C library), and `host:port` with a DNS host name (letters,
/// digits, `-` and `.`; labels of 1 to 63 characters; at most 253 in
/// all). Anything else is refused with the reason, before it can be
/// added to a configuration that every node would then dial forever.
pub fn check_member_address(address: &str) -> io::Result<()> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{address:?} is not a node address: {why}"),
        )
    };
    match Endpoint::parse(address) {
        Ok(Endpoint::Autobind) => Err(invalid("\"@\" names no socket")),
        Ok(Endpoint::Tcp(socket)) if socket.port() == 0 => Err(invalid("port 0")),
        Ok(_) => Ok(()),
        Err(e) if address.starts_with(UNIX_PREFIX) => Err(e),
        Err(_) => {
            let Some((host, port)) = address.rsplit_once(':') else {
                return Err(invalid("a host name needs a port (host:port)"));
            };
            match port.parse::<u16>() {
                Ok(p) if p > 0 && !port.starts_with('+') => {}
                _ => return Err(invalid("the port is not a number from 1 to 65535")),
            }
            let label_ok = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
                return Err(invalid("not an IP address, nor a valid host name"));
            }
            Ok(())
        }
    }
}

impl Listener {
    /// Binds `address` as dqlite's C library does (see
    /// [`Endpoint::parse`]): TCP, or an abstract socket that accepts
    /// this process only. TCP sockets get `SO_REUSEADDR` (std sets it), so
    /// a restarted node gets its port back. `unix:PATH` is refused: a
    /// socket file serves other processes ([`bind_local`](Self::bind_local)).
    pub fn bind(address: &str) -> io::Result<Listener> {
        match Endpoint::parse(address)? {
            Endpoint::Tcp(socket) => Ok(Listener::Tcp(std::net::TcpListener::bind(socket)?)),
            Endpoint::Abstract(name) => bind_abstract(&name).map(Listener::Unix),
            Endpoint::Autobind => autobind().map(Listener::Unix),
            Endpoint::Path(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{address:?}: a socket file serves other processes; bind it with Listener::bind_local"
                ),
            )),
        }
    }

    /// Binds `address` for clients and nodes in other processes of this
    /// host, as `dqlite-server --address` does: `unix:/path` (a socket
    /// file, mode 0600) and `@name` (`@` alone: named by the kernel)
    /// become a [`LocalSocket`] (see [`local`] for who gets in, and what
    /// happens to a file already at the path); anything else is TCP, as
    /// [`std::net::TcpListener::bind`] takes it (host names resolved).
    pub fn bind_local(address: &str) -> io::Result<Listener> {
        let unix = address.starts_with('@') || address.starts_with(UNIX_PREFIX);
        let socket = match Endpoint::parse(address) {
            Ok(Endpoint::Path(path)) => LocalSocket::bind_file(&path)?,
            Ok(Endpoint::Abstract(name)) => LocalSocket::from_abstract(bind_abstract(&name)?),
            Ok(Endpoint::Autobind) => LocalSocket::from_abstract(autobind()?),
            Err(e) if unix => return Err(e),
            Ok(Endpoint::Tcp(_)) | Err(_) => {
                return Ok(Listener::Tcp(std::net::TcpListener::bind(address)?));
            }
        };
        Ok(Listener::Local(socket))
    }

    /// The bound address in dqlite's form: `ip:port` (the real port when
    /// bound to port 0), `@name` (the kernel's name when bound to `@`), or
    /// `unix:/path`.
    pub fn local_address(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(l.local_addr()?.to_string()),
            Listener::Unix(l) => unix_name(&l.local_addr()?),
            Listener::Local(socket) => match socket.path() {
                Some(path) => Ok(format!("{UNIX_PREFIX}{}", path.display())),
                None => unix_name(&socket.listener().local_addr()?),
            },
        }
    }
}

/// A listening abstract socket named `name`.
fn bind_abstract(name: &[u8]) -> io::Result<UnixListener> {
    UnixListener::bind_addr(&UnixAddr::from_abstract_name(name)?)
}

/// `@name` of an abstract socket address.
fn unix_name(addr: &UnixAddr) -> io::Result<String> {
    match addr.as_abstract_name() {
        Some(name) => Ok(format!("@{}", String::from_utf8_lossy(name))),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only abstract Unix sockets are supported",
        )),
    }
}

/// An abstract Unix socket named by the kernel (bind with an address of
/// the family alone), listening.
fn autobind() -> io::Result<UnixListener> {
    // SAFETY: plain socket calls; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just created and own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let family = libc::sa_family_t::try_from(libc::AF_UNIX).map_err(io::Error::other)?;
    let addr = libc::sockaddr_un {
        sun_family: family,
        sun_path: [0; 108],
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sa_family_t>())
        .map_err(io::Error::other)?;
    // SAFETY: a valid sockaddr_un, of which only the family is passed.
    let rc = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            (&raw const addr).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    let rc = unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&fd), 1024) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UnixListener::from(fd))
}

/// A listener registered with the node's runtime.
#[derive(Debug)]
pub(crate) enum AsyncListener {
    Tcp(tokio::net::TcpListener),
    /// Accepts this process only.
    Unix(tokio::net::UnixListener),
    /// Accepts the processes of this host that [`local`] admits; the
    /// socket file, if any, goes when this is dropped.
    Local {
        listener: tokio::net::UnixListener,
        file: Option<SocketFile>,
    },
}

/// What [`AsyncListener::accept`] got.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A connection, and a description of its peer.
    Stream(Stream, String),
    /// A connection closed at once: its peer, and why (a constant text, so
    /// that the caller can throttle repeated log lines).
    Refused { peer: String, why: &'static str },
}

impl AsyncListener {
    /// Registers `listener`; must run inside the runtime.
    pub(crate) fn new(listener: Listener) -> io::Result<Self> {
        match listener {
            Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                Ok(AsyncListener::Tcp(tokio::net::TcpListener::from_std(l)?))
            }
            Listener::Unix(l) => {
                l.set_nonblocking(true)?;
                Ok(AsyncListener::Unix(tokio::net::UnixListener::from_std(l)?))
            }
            Listener::Local(socket) => {
                let (l, file) = socket.into_parts();
                l.set_nonblocking(true)?;
                Ok(AsyncListener::Local {
                    listener: tokio::net::UnixListener::from_std(l)?,
                    file,
                })
            }
        }
    }

    /// The next connection and a description of its peer, or a refusal:
    /// a connection to a [`Listener::Unix`] from another process, or to
    /// an abstract [`Listener::Local`] from another user (not root).
    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        match self {
            AsyncListener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                Ok(Accepted::Stream(Stream::Tcp(stream), peer.to_string()))
            }
            AsyncListener::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let pid = stream.peer_cred()?.pid();
                if pid != Some(i32::try_from(std::process::id()).unwrap_or(-1)) {
                    return Ok(Accepted::Refused {
                        peer: format!("unix pid {}", pid.unwrap_or(-1)),
                        why: "a Unix connection from another process",
                    });
                }
                Ok(Accepted::Stream(Stream::Unix(stream), "unix".to_owned()))
            }
            AsyncListener::Local { listener, file } => {
                let (stream, _) = listener.accept().await?;
                let cred = stream.peer_cred()?;
                let peer = format!("unix uid {} pid {}", cred.uid(), cred.pid().unwrap_or(-1));
                // A socket file's permissions decide who connects; an
                // abstract socket has none, so the user is checked here.
                if file.is_none() && !local::admits(cred.uid()) {
                    return Ok(Accepted::Refused {
                        peer: format!("unix uid {}", cred.uid()),
                        why: "a connection to the abstract socket from another user",
                    });
                }
                Ok(Accepted::Stream(Stream::Unix(stream), peer))
            }
        }
    }
}

/// A connected stream: TCP or Unix, or a TLS session over one of them.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(tokio::net::TcpStream),
    /// A Unix socket connection.
    Unix(tokio::net::UnixStream),
    /// A TLS session (client or server side) over a TCP or Unix stream.
    Tls(Box<tokio_rustls::TlsStream<Stream>>),
}

impl Stream {
    /// Turns off Nagle's algorithm on TCP (nothing to do on Unix).
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Unix(_) => Ok(()),
            Stream::Tls(s) => s.get_ref().0.set_nodelay(),
        }
    }

    /// The TCP socket under this stream, if it runs over TCP.
    fn tcp(&self) -> Option<&tokio::net::TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
            Stream::Tls(s) => s.get_ref().0.tcp(),
        }
    }

    /// Splits into halves that can be used at the same time, without a
    /// lock between them.
    pub(crate) fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
            Stream::Tls(s) => {
                // A TLS session has one state for both directions: the
                // halves share it through tokio's lock. A duplicate of
                // the socket stays with the reading half for SO_LINGER.
                let socket = s.get_ref().0.tcp().and_then(|t| {
                    use std::os::fd::AsFd;
                    t.as_fd().try_clone_to_owned().ok()
                });
                let (r, w) = tokio::io::split(*s);
                (
                    ReadHalf::Tls(TlsReadHalf { half: r, socket }),
                    WriteHalf::Tls(w),
                )
            }
        }
    }
}

/// The reading half of a TLS [`Stream`], with its TCP socket (a
/// duplicate descriptor) if it has one.
pub(crate) struct TlsReadHalf {
    half: tokio::io::ReadHalf<tokio_rustls::TlsStream<Stream>>,
    socket: Option<OwnedFd>,
}

impl AsyncRead for TlsReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().half).poll_read(cx, buf)
    }
}

/// The reading half of a [`Stream`].
pub(crate) enum ReadHalf {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    Unix(tokio::net::unix::OwnedReadHalf),
    Tls(TlsReadHalf),
}

impl ReadHalf {
    /// Makes closing the connection reset it (TCP RST, nothing lingers);
    /// nothing to do on Unix sockets.
    pub(crate) fn set_zero_linger(&self) {
        let set = match self {
            ReadHalf::Tcp(r) => r.as_ref().set_zero_linger(),
            ReadHalf::Tls(TlsReadHalf {
                socket: Some(socket),
                ..
            }) => socket2::SockRef::from(socket).set_linger(Some(std::time::Duration::ZERO)),
            _ => Ok(()),
        };
        if let Err(e) = set {
            tracing::debug!(error = %e, "cannot set SO_LINGER");
        }
    }
}

/// The writing half of a [`Stream`].
pub(crate) enum WriteHalf {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    Unix(tokio::net::unix::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<tokio_rustls::TlsStream<Stream>>),
}

/// Forwards the tokio I/O traits to the variant inside.
macro_rules! delegate_io {
    ($ty:ty, read) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
                    Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
    ($ty:ty, write) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
                    Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Tcp(s) => s.is_write_vectored(),
                    Self::Unix(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_flush(cx),
                    Self::Unix(s) => Pin::new(s).poll_flush(cx),
                    Self::Tls(s) => Pin::new(s).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
                    Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
                    Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_io!(Stream, read);
delegate_io!(Stream, write);
delegate_io!(ReadHalf, read);
delegate_io!(WriteHalf, write);

/// Opens connections to other nodes, by the address they advertise.
#[async_trait::async_trait]
pub trait Dialer: Send + Sync + std::fmt::Debug {
    /// A connected stream to `address`. Callers bound the time it takes.
    async fn dial(&self, address: &str) -> io::Result<Stream>;

    /// Whether `address` can be dialed at all (ADD refuses a member at
    /// an address that cannot). By default every address is accepted:
    /// to a dialer of the embedder's, addresses may be any names (go-dqlite
    /// applications with their own dial function use such names).
    fn check_address(&self, address: &str) -> io::Result<()> {
        let _ = address;
        Ok(())
    }
}

/// Dials TCP, an abstract Unix socket for `@name` addresses, or a socket
/// file for `unix:/path`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultDialer;

#[async_trait::async_trait]
impl Dialer for DefaultDialer {
    async fn dial(&self, address: &str) -> io::Result<Stream> {
        match Endpoint::parse(address) {
            Ok(Endpoint::Abstract(name)) => {
                let addr = UnixAddr::from_abstract_name(&name)?;
                let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
                stream.set_nonblocking(true)?;
                Ok(Stream::Unix(tokio::net::UnixStream::from_std(stream)?))
            }
            Ok(Endpoint::Autobind) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot dial \"@\": no socket name",
            )),
            Ok(Endpoint::Path(path)) => {
                Ok(Stream::Unix(tokio::net::UnixStream::connect(path).await?))
            }
            Ok(Endpoint::Tcp(socket)) => {
                let stream = tokio::net::TcpStream::connect(socket).await?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            // A host name: resolve it (the C library would refuse it,
            // our own binary has always accepted it).
            Err(_) => {
                let stream = tokio::net::TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }

    fn check_address(&self, address: &str) -> io::Result<()> {
        check_member_address(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_dqlite_parses_them() {
        let tcp = |s: &str| Endpoint::Tcp(s.parse().unwrap());
        assert_eq!(
            Endpoint::parse("127.0.0.1:9001").unwrap(),
            tcp("127.0.0.1:9001")
        );
        assert_eq!(Endpoint::parse("127.0.0.1").unwrap(), tcp("127.0.0.1:8080"));
        assert_eq!(Endpoint::parse("[::1]:9001").unwrap(), tcp("[::1]:9001"));
        assert_eq!(Endpoint::parse("::1").unwrap(), tcp("[::1]:8080"));
        assert_eq!(Endpoint::parse("@").unwrap(), Endpoint::Autobind);
        assert_eq!(
            Endpoint::parse("@dqlite-1").unwrap(),
            Endpoint::Abstract(b"dqlite-1".to_vec())
        );
        assert_eq!(
            Endpoint::parse("unix:/run/dqlite/node.sock").unwrap(),
            Endpoint::Path(PathBuf::from("/run/dqlite/node.sock"))
        );
        for bad in [
            "localhost:9001",
            "example.com",
            "",
            "1.2.3.4:99999",
            &format!("@{}", "x".repeat(108)),
            "unix:",
            "unix:node.sock",
            "unix:/a\0b",
            &format!("unix:/{}", "x".repeat(107)),
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn member_addresses_are_those_a_dialer_can_reach() {
        for good in [
            "127.0.0.1:9001",
            "10.0.0.5",
            "[::1]:9001",
            "[fe80::1]:8443",
            "@dqlite-1",
            "unix:/run/dqlite/node.sock",
            "db-1.example.com:9001",
            "localhost:9001",
            "node1:8443",
            "a.b.c.:9001",
        ] {
            assert!(check_member_address(good).is_ok(), "{good}");
        }
        for bad in [
            "garbage 17",
            "",
            "@",
            "example.com",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "-host:9001",
            "ho_st:9001",
            "a..b:9001",
            "127.0.0.1:0",
            "unix:node.sock",
            "unix:",
            "::1:9001:x",
            &format!("{}:9001", "a".repeat(64)),
            &format!("{}:9001", ["abc"; 70].join(".")),
        ] {
            let e = check_member_address(bad).expect_err(bad);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn listeners_report_their_address() {
        let tcp = Listener::bind("127.0.0.1:0").unwrap();
        let address = tcp.local_address().unwrap();
        assert!(
            address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
            "{address}"
        );
        let name = format!("@dqlite-test-{}", std::process::id());
        let unix = Listener::bind(&name).unwrap();
        assert_eq!(unix.local_address().unwrap(), name);
        // The name is taken while bound.
        assert!(Listener::bind(&name).is_err());
        drop(unix);
        assert!(Listener::bind(&name).is_ok());
        let auto = Listener::bind("@").unwrap().local_address().unwrap();
        assert!(auto.len() > 1 && auto.starts_with('@'), "{auto}");
        // A socket file is for bind_local: bind (the C API's) refuses it.
        let dir = tempfile::tempdir().unwrap();
        let file = format!("unix:{}/node.sock", dir.path().display());
        let e = Listener::bind(&file).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        for address in [file.as_str(), name.as_str()] {
            let local = Listener::bind_local(address).unwrap();
            assert!(matches!(local, Listener::Local(_)), "{address}");
            assert_eq!(local.local_address().unwrap(), address);
        }
        let auto = Listener::bind_local("@").unwrap().local_address().unwrap();
        assert!(auto.len() > 1 && auto.starts_with('@'), "{auto}");
        let tcp = Listener::bind_local("localhost:0").unwrap();
        assert!(matches!(tcp, Listener::Tcp(_)));
    }

    #[tokio::test]
    async fn the_default_dialer_reaches_tcp_abstract_and_file_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("unix:{}/node.sock", dir.path().display());
        for address in ["127.0.0.1:0", "@", &file] {
            let listener = Listener::bind_local(address).unwrap();
            let bound = listener.local_address().unwrap();
            let listener = AsyncListener::new(listener).unwrap();
            let dialed = DefaultDialer.dial(&bound);
            let (dialed, accepted) = tokio::join!(dialed, listener.accept());
            let mut dialed = dialed.unwrap();
            let Accepted::Stream(mut accepted, _) = accepted.unwrap() else {
                panic!("refused a connection from this process");
            };
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            dialed.write_all(b"ping").await.unwrap();
            let mut got = [0u8; 4];
            accepted.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
        }
    }
}
