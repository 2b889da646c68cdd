//! The accept loop, the connection limit and graceful shutdown.
//!
//! TODO(protocol helper).

use std::net::SocketAddr;

use crate::Config;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open data directory: {0}")]
    Data(#[from] crate::topics::TopicError),
}

/// The broker as a library.
#[derive(Debug)]
pub struct Broker {
    _private: (),
}

/// A running broker: its address, and a way to stop it.
#[derive(Debug)]
pub struct BrokerHandle {
    _private: (),
}

#[allow(clippy::todo, unused_variables)]
impl Broker {
    /// Opens the data dir, binds the listener and starts serving in the background.
    pub async fn start(config: Config) -> Result<BrokerHandle, StartError> {
        todo!()
    }
}

#[allow(clippy::todo)]
impl BrokerHandle {
    /// The address the broker really listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        todo!()
    }
    /// Stops accepting, finishes requests in flight, syncs the logs and writes the
    /// clean-shutdown markers.
    pub async fn shutdown(self) {
        todo!()
    }
}
