//! A real broker for tests: on 127.0.0.1:0, over a fresh temp data dir, shut down by the
//! test. Our own tests use it, and so can yours when you embed the broker to test Kafka
//! code.
//!
//! Flow: a test builds a [`TestBroker`], points its client at [`TestBroker::bootstrap`],
//! and every message then takes the same path as in production (wire → server →
//! partition log → segment → fetch). Nothing is mocked.
//!
//! What must stay true:
//! - every broker a test starts is shut down by the test: [`TestBroker::stop`] waits for
//!   the graceful shutdown (clean-shutdown markers written) and hands back the data dir;
//!   dropping a running `TestBroker` panics with a message saying so, unless the test is
//!   already failing;
//! - a restart ([`TestBroker::restart`]) reopens the same data dir on the same port, so a
//!   client that kept its bootstrap address finds the broker again;
//! - every wait here is bounded by [`WAIT`], so a broken broker fails a test instead of
//!   hanging it.
//!
//! # Example
//!
//! ```
//! use minikafka_broker::testing::TestBroker;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), minikafka_broker::testing::TestBrokerError> {
//! let mut broker = TestBroker::builder()
//!     .partitions(3)
//!     .config(|c| c.max_connections = 100)
//!     .start()
//!     .await?;
//! let bootstrap = broker.bootstrap(); // "127.0.0.1:<port>": give it to your client
//! broker.restart().await?; // same data, same port
//! assert_eq!(broker.bootstrap(), bootstrap);
//! let data_dir = broker.stop().await; // graceful; the files are still there to inspect
//! assert!(data_dir.path().is_dir());
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::config::ListenerConfig;
use crate::server::{Broker, BrokerHandle, StartError};
use crate::Config;

/// The longest a test waits for one step (a shutdown, a response, a client run) before
/// it fails instead of hanging. The one bound every test helper uses.
pub const WAIT: Duration = Duration::from_secs(120);

/// Why a test broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestBrokerError {
    #[error("cannot create a temporary data directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// A change to the config, applied just before the broker starts.
type Tweak = Box<dyn FnOnce(&mut Config) + Send>;

/// How to start a [`TestBroker`]; see [`TestBroker::builder`].
pub struct TestBrokerBuilder {
    config: Config,
    dir: Option<TempDir>,
    tweaks: Vec<Tweak>,
}

impl TestBrokerBuilder {
    /// Partitions of an auto-created topic (`num.partitions`).
    pub fn partitions(mut self, n: i32) -> Self {
        self.config.num_partitions = n;
        self
    }

    /// Whether Metadata and Produce create unknown topics (`auto.create.topics.enable`).
    pub fn auto_create(mut self, on: bool) -> Self {
        self.config.auto_create_topics = on;
        self
    }

    /// One log line per request, in Kafka's words (off by default in tests).
    pub fn log_requests(mut self, on: bool) -> Self {
        self.config.log_requests = on;
        self
    }

    /// Any other setting: `tweak` runs on the config just before the broker starts, after
    /// the settings above and earlier tweaks. The data dir is the builder's; set it with
    /// [`Self::data_dir`].
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Start over an existing data dir (one that [`TestBroker::stop`] returned, say)
    /// instead of a fresh one.
    pub fn data_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Starts the broker and returns once it is listening.
    pub async fn start(self) -> Result<TestBroker, TestBrokerError> {
        let dir = match self.dir {
            Some(dir) => dir,
            None => tempfile::tempdir().map_err(TestBrokerError::TempDir)?,
        };
        let mut config = self.config;
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        config.data_dir = dir.path().to_path_buf();
        let handle = Broker::start(config.clone()).await?;
        // A restart comes back on the same ports.
        for (listener, bound) in config.listeners.iter_mut().zip(handle.listeners()) {
            listener.addr = bound.bound;
        }
        Ok(TestBroker {
            config,
            dir: Some(dir),
            handle: Some(handle),
        })
    }
}

/// A broker serving a temp dir. Call [`TestBroker::stop`] at the end of the test.
#[derive(Debug)]
pub struct TestBroker {
    /// What it was started with; the listeners' real addresses once started.
    config: Config,
    /// `Some` until `stop` hands it back.
    dir: Option<TempDir>,
    /// `None` while paused (between [`TestBroker::pause`] and [`TestBroker::resume`]).
    handle: Option<BrokerHandle>,
}

impl TestBroker {
    /// 127.0.0.1:0, a fresh temp data dir, `Config::default()` for the rest.
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder {
            config: Config {
                listeners: vec![ListenerConfig::plaintext(SocketAddr::from((
                    [127, 0, 0, 1],
                    0,
                )))],
                log_requests: false,
                ..Config::default()
            },
            dir: None,
            tweaks: Vec::new(),
        }
    }

    /// A broker with the builder's defaults.
    pub async fn start() -> Result<TestBroker, TestBrokerError> {
        Self::builder().start().await
    }

    /// The address its first listener listens on.
    pub fn addr(&self) -> SocketAddr {
        self.config
            .listeners
            .first()
            .map(|l| l.addr)
            .expect("Broker::start refuses a config without listeners")
    }

    /// The address of the listener named `name` (`SASL_SSL`, say), if it has one.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.config
            .listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.addr)
    }

    /// `127.0.0.1:<port>`, for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    /// The data directory (topics, segments, `__consumer_offsets`).
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The running broker; `None` while paused.
    pub fn handle(&self) -> Option<&BrokerHandle> {
        self.handle.as_ref()
    }

    /// Shuts down gracefully and starts again over the same data dir and port.
    pub async fn restart(&mut self) -> Result<(), TestBrokerError> {
        self.pause().await;
        self.resume().await
    }

    /// Shuts down gracefully but keeps the data dir and the port for [`Self::resume`]:
    /// clients see a broker that is down.
    ///
    /// # Panics
    /// When the shutdown takes longer than [`WAIT`].
    pub async fn pause(&mut self) {
        if let Some(handle) = self.handle.take() {
            shut_down(handle).await;
        }
    }

    /// Starts the paused broker again, on the same data dir and port.
    pub async fn resume(&mut self) -> Result<(), TestBrokerError> {
        if self.handle.is_none() {
            self.handle = Some(Broker::start(self.config.clone()).await?);
        }
        Ok(())
    }

    /// Graceful shutdown; returns the data dir, so a test can inspect the files or start
    /// a broker over it again ([`TestBrokerBuilder::data_dir`]).
    ///
    /// # Panics
    /// When the shutdown takes longer than [`WAIT`].
    pub async fn stop(mut self) -> TempDir {
        self.pause().await;
        self.dir
            .take()
            .expect("the data dir is only taken here, and stop consumes the broker")
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if self.handle.is_some() && !std::thread::panicking() {
            panic!(
                "the TestBroker on {} was dropped while running: call `broker.stop().await` \
                 at the end of the test, so it shuts down gracefully",
                self.addr()
            );
        }
    }
}

async fn shut_down(handle: BrokerHandle) {
    let addr = handle.addr();
    if tokio::time::timeout(WAIT, handle.shutdown()).await.is_err() {
        panic!("the broker on {addr} did not shut down within {WAIT:?}");
    }
}
