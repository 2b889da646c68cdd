//! The targets of `perf compare`, the columns of its table: which server runs, and which
//! client backend drives it.
//!
//! What must stay true:
//! - [`TargetId::NeverNative`] comes first: every ratio in the table is relative to it.
//! - A target that needs librdkafka is still listed in a build without the `rdkafka`
//!   feature; [`TargetId::unavailable`] says why it has no figures.

use clap::ValueEnum;
use minikafka_client::Backend;
use serde::Serialize;

use super::server::Kind;

/// One column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetId {
    /// minikafka with `--fsync never`, driven by the native client: the reference.
    NeverNative,
    /// minikafka with `--fsync always` (an fsync before each produce is acknowledged).
    AlwaysNative,
    /// minikafka with `--fsync never`, driven by librdkafka (the rdkafka backend).
    NeverRdkafka,
    /// librdkafka's in-process mock cluster, driven by librdkafka.
    MockRdkafka,
}

impl TargetId {
    /// Every target, reference first.
    pub const ALL: [TargetId; 4] = [
        TargetId::NeverNative,
        TargetId::AlwaysNative,
        TargetId::NeverRdkafka,
        TargetId::MockRdkafka,
    ];

    /// The column heading.
    pub fn label(self) -> &'static str {
        match self {
            TargetId::NeverNative => "minikafka fsync=never, native",
            TargetId::AlwaysNative => "minikafka fsync=always, native",
            TargetId::NeverRdkafka => "minikafka fsync=never, rdkafka",
            TargetId::MockRdkafka => "librdkafka mock, rdkafka",
        }
    }

    /// The server it runs.
    pub fn server(self) -> Kind {
        match self {
            TargetId::NeverNative | TargetId::NeverRdkafka => Kind::Broker {
                fsync_always: false,
            },
            TargetId::AlwaysNative => Kind::Broker { fsync_always: true },
            TargetId::MockRdkafka => Kind::Mock,
        }
    }

    /// The client backend that drives it.
    pub fn backend(self) -> Backend {
        match self {
            TargetId::NeverNative | TargetId::AlwaysNative => Backend::Native,
            TargetId::NeverRdkafka | TargetId::MockRdkafka => Backend::Rdkafka,
        }
    }

    /// Why this build cannot run the target, if it cannot.
    pub fn unavailable(self) -> Option<&'static str> {
        let needs_rdkafka = self.backend() == Backend::Rdkafka;
        (needs_rdkafka && !cfg!(feature = "rdkafka"))
            .then_some("not built: rebuild perf with --features rdkafka")
    }
}
