//! What the application asks of the member task (subscribe, commit, close), and how the
//! member task takes those requests while it is busy with the group protocol.
//!
//! Where it sits: application → `NativeConsumer` → **command channel** → member task
//! (`driver`), which answers each `commit()` and `close()` through a oneshot channel.
//!
//! Invariants:
//! - A `commit()` that arrives while the member owns nothing (mid-rebalance) waits in
//!   `pending` and is answered once the member owns partitions again, or at close.
//! - Close wins: once asked for (or once the consumer is dropped), every wait the member
//!   runs through [`Commands::interruptible`] ends at once.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::error::Result;

/// What the application asks of the member task.
#[derive(Debug)]
pub(crate) enum Command {
    Subscribe(Vec<String>),
    Commit(oneshot::Sender<Result<()>>),
    Close(oneshot::Sender<Result<()>>),
}

/// The application's requests, collected while the member is busy.
pub(crate) struct Commands {
    pub(crate) rx: mpsc::UnboundedReceiver<Command>,
    pub(crate) topics: Vec<String>,
    /// The subscription changed since the last join.
    pub(crate) resubscribed: bool,
    /// `commit()` calls waiting for the member to own partitions.
    pub(crate) pending: Vec<oneshot::Sender<Result<()>>>,
    /// `Some` once close was asked for; the inner `None` when the consumer was dropped.
    pub(crate) close: Option<Option<oneshot::Sender<Result<()>>>>,
}

impl Commands {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Command>) -> Commands {
        Commands {
            rx,
            topics: Vec::new(),
            resubscribed: false,
            pending: Vec::new(),
            close: None,
        }
    }

    /// Note one command (or the consumer being dropped, `None`).
    pub(crate) fn absorb(&mut self, command: Option<Command>) {
        match command {
            Some(Command::Subscribe(topics)) => {
                if topics != self.topics {
                    self.topics = topics;
                    self.resubscribed = true;
                }
            }
            Some(Command::Commit(reply)) => self.pending.push(reply),
            Some(Command::Close(reply)) => self.close = Some(Some(reply)),
            None => {
                if self.close.is_none() {
                    self.close = Some(None);
                }
            }
        }
    }

    /// Run `fut` while taking commands; `None` when close was asked for first.
    pub(crate) async fn interruptible<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(fut);
        loop {
            if self.close.is_some() {
                return None;
            }
            tokio::select! {
                out = &mut fut => return Some(out),
                command = self.rx.recv() => self.absorb(command),
            }
        }
    }
}
