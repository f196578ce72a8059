//! A blocking TCP stream in the clear or under rustls: the replication client's connection to
//! its upstream (`replica::transport`, a client connection) and a relay's to each downstream
//! (`relay::server`, a server connection). Both live on helper threads, never on the serving
//! cores, which use monoio's own streams.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};

use rustls::{ConnectionCommon, SideData, StreamOwned};

/// `C` is rustls's `ClientConnection` or `ServerConnection`.
pub enum MaybeTls<C> {
    Plain(TcpStream),
    Tls(Box<StreamOwned<C, TcpStream>>),
}

impl<C, S> Read for MaybeTls<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<S>>,
    S: SideData,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl<C, S> Write for MaybeTls<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<S>>,
    S: SideData,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}
