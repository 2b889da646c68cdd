//! The public partition reader: read one partition from a given offset, whatever the backend.
//!
//! Where it sits: broker → fetch → **PartitionReader** → application. The group
//! [`crate::Consumer`] builds on the same fetch path; this type is for reading a partition
//! you pick yourself.
//!
//! What must stay true:
//! - The backend is chosen once, in `assign` (refused there if this build lacks it);
//!   every method then forwards to it and means the same on both.
//! - Both backends hand out records in offset order from the start offset, join no group
//!   and commit nothing; `position()` is the offset `next()` returns next.
//! - `into_stream` ends only after yielding the error that stopped it.

use futures::Stream;

use crate::config::ReaderConfig;
use crate::error::Result;
use crate::native::reader::NativeReader;
use crate::record::{ConsumerRecord, Offset};

/// Reads the records of one partition, in offset order, from a start offset.
///
/// ```no_run
/// # async fn demo() -> minikafka_client::Result<()> {
/// use minikafka_client::{Offset, PartitionReader, ReaderConfig};
/// let mut reader =
///     PartitionReader::assign(ReaderConfig::new("localhost:9092"), "demo-topic", 0, Offset::Earliest).await?;
/// let record = reader.next().await?;
/// println!("{} @ {}", record.partition, record.offset);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PartitionReader {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Native(Box<NativeReader>),
    #[cfg(feature = "rdkafka")]
    Rdkafka(crate::rdkafka::reader::RdReader),
}

impl PartitionReader {
    /// Read `topic[partition]` starting at `start`; earliest and latest are resolved now.
    pub async fn assign(
        config: ReaderConfig,
        topic: &str,
        partition: i32,
        start: Offset,
    ) -> Result<PartitionReader> {
        crate::require_backend(config.client.backend)?;
        let inner = match config.client.backend {
            #[cfg(feature = "rdkafka")]
            crate::Backend::Rdkafka => Inner::Rdkafka(
                crate::rdkafka::reader::RdReader::assign(config, topic, partition, start).await?,
            ),
            _ => Inner::Native(Box::new(
                NativeReader::assign(config, topic, partition, start).await?,
            )),
        };
        Ok(PartitionReader { inner })
    }

    /// The next record; long-polls until there is one. Cancel-safe: dropping the future loses
    /// no record.
    pub async fn next(&mut self) -> Result<ConsumerRecord> {
        match &mut self.inner {
            Inner::Native(r) => r.next().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(r) => r.next().await,
        }
    }

    /// The offset of the record `next()` returns next.
    pub fn position(&self) -> i64 {
        match &self.inner {
            Inner::Native(r) => r.position(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(r) => r.position(),
        }
    }

    /// The partition's high watermark (offset after the last record) as of the last fetch.
    pub fn high_watermark(&self) -> Option<i64> {
        match &self.inner {
            Inner::Native(r) => r.high_watermark(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(r) => r.high_watermark(),
        }
    }

    /// The records as a stream; it ends only on error (after yielding it).
    pub fn into_stream(self) -> impl Stream<Item = Result<ConsumerRecord>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut reader = state?;
            match reader.next().await {
                Ok(r) => Some((Ok(r), Some(reader))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}
