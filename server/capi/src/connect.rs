//! `dqlite_node_set_connect_func`: the host's connect function as the
//! node's [`Dialer`].
//!
//! The function is blocking C code (go-dqlite dials TLS, HTTP upgrades or
//! socket pairs in it), so it runs on the node runtime's blocking pool; the
//! descriptor it returns becomes a TCP or Unix stream, whichever it is.

use std::ffi::{CString, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use dqlite_server::transport::{Dialer, Stream};

/// The C signature of a connect function.
pub type ConnectFn =
    unsafe extern "C" fn(arg: *mut c_void, address: *const c_char, fd: *mut c_int) -> c_int;

/// A host connect function and its argument.
#[derive(Debug, Clone, Copy)]
pub struct ConnectFunc {
    f: ConnectFn,
    /// The host's opaque pointer, passed back untouched.
    arg: usize,
}

impl ConnectFunc {
    /// Wraps `f` and the `arg` it is called with.
    pub fn new(f: ConnectFn, arg: *mut c_void) -> Self {
        ConnectFunc {
            f,
            arg: arg as usize,
        }
    }

    /// Calls the function (blocking) and takes ownership of the descriptor.
    fn call(self, address: &CString) -> io::Result<OwnedFd> {
        let mut fd: c_int = -1;
        // SAFETY: `f` was given by the host for exactly this call shape;
        // `address` is a valid C string for the call's duration and `fd` a
        // valid out pointer.
        let rc = unsafe { (self.f)(self.arg as *mut c_void, address.as_ptr(), &raw mut fd) };
        if rc != 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("the connect function failed with {rc}"),
            ));
        }
        if fd < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the connect function succeeded without a descriptor",
            ));
        }
        // SAFETY: the connect function's contract hands the descriptor over.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[async_trait::async_trait]
impl Dialer for ConnectFunc {
    async fn dial(&self, address: &str) -> io::Result<Stream> {
        let address = CString::new(address)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "address holds a NUL byte"))?;
        let this = *self;
        // A dial the caller stopped waiting for still finishes here; its
        // descriptor is then closed when the result is dropped.
        let fd = tokio::task::spawn_blocking(move || this.call(&address))
            .await
            .map_err(io::Error::other)??;
        stream_from_fd(fd)
    }
}

/// Turns a connected socket into a tokio stream of its kind.
pub fn stream_from_fd(fd: OwnedFd) -> io::Result<Stream> {
    if socket_option(&fd, libc::SO_TYPE)? != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the connect function returned a socket that is not a stream",
        ));
    }
    match socket_option(&fd, libc::SO_DOMAIN)? {
        libc::AF_UNIX => {
            let stream = std::os::unix::net::UnixStream::from(fd);
            stream.set_nonblocking(true)?;
            Ok(Stream::Unix(tokio::net::UnixStream::from_std(stream)?))
        }
        libc::AF_INET | libc::AF_INET6 => {
            let stream = std::net::TcpStream::from(fd);
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            Ok(Stream::Tcp(tokio::net::TcpStream::from_std(stream)?))
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the connect function returned a socket of family {other}, not TCP or Unix"),
        )),
    }
}

/// An integer `SOL_SOCKET` option; fails for a descriptor that is no socket.
fn socket_option(fd: &OwnedFd, option: c_int) -> io::Result<c_int> {
    let mut value: c_int = 0;
    let mut len =
        libc::socklen_t::try_from(std::mem::size_of::<c_int>()).map_err(io::Error::other)?;
    // SAFETY: a valid descriptor and an out buffer of the stated length.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_and_tcp_descriptors_become_streams_of_their_kind() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            assert!(matches!(stream_from_fd(a.into()).unwrap(), Stream::Unix(_)));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            assert!(matches!(stream_from_fd(c.into()).unwrap(), Stream::Tcp(_)));
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            assert!(stream_from_fd(udp.into()).is_err());
            let file = std::fs::File::open("/dev/null").unwrap();
            assert!(stream_from_fd(file.into()).is_err());
        });
    }
}
