//! The shutdown signal every layer listens to, in a module of its own below them all
//! (as mini-redis's `shutdown.rs`), so that no layer has to reach up into `server.rs`
//! to learn that the broker is stopping.
//!
//! Flow: `BrokerHandle::shutdown` (or Ctrl+C in the CLI) sends the signal once →
//! the accept loop and the maintenance task in `server.rs`, every connection in
//! `connection.rs` and every parked Fetch in `protocol/fetch.rs` wake up and finish
//! what they were doing.
//!
//! What must stay true:
//! - The signal is a `watch` channel of `bool`: `false` while serving, `true` once,
//!   for good. A task that starts listening late still sees it (unlike a broadcast
//!   message it could miss).
//! - Dropping the sender counts as the signal too, so a dropped `BrokerHandle` never
//!   leaves a task waiting forever.

use tokio::sync::watch;

/// The sending half, held by the `BrokerHandle`: `send_replace(true)` stops the broker.
pub type Sender = watch::Sender<bool>;

/// The listening half; every task that must stop on shutdown holds a clone.
pub type Receiver = watch::Receiver<bool>;

/// A new signal, not yet sent.
pub fn channel() -> (Sender, Receiver) {
    watch::channel(false)
}

/// Resolves once shutdown has been signalled (at once if it already has been), or
/// once the sender has been dropped.
pub async fn stopping(shutdown: &mut Receiver) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
