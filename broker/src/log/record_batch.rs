//! TODO(log helper): record_batch.

/// Why a record batch was rejected. The protocol layer maps each variant to a Kafka
/// error code (see `kafka_error_code`).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a header, or a batchLength that disagrees with the bytes given.
    #[error("bad batch length: {0}")]
    BadLength(String),
    /// magic is not 2 (v0/v1 message sets are not supported).
    #[error("unsupported magic {0}: only v2 record batches are supported")]
    BadMagic(i8),
    /// CRC-32C over attributes..end does not match.
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    /// recordCount, lastOffsetDelta or the records themselves are inconsistent.
    #[error("invalid records: {0}")]
    InvalidRecords(String),
    /// Larger than `max.message.bytes`.
    #[error("batch of {size} bytes is larger than max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
}

impl BatchError {
    /// The Kafka error code a Produce response carries for this error:
    /// CORRUPT_MESSAGE (2), INVALID_RECORD (87) or MESSAGE_TOO_LARGE (10).
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            BatchError::BadLength(_) | BatchError::BadMagic(_) | BatchError::BadCrc { .. } => 2,
            BatchError::InvalidRecords(_) => 87,
            BatchError::TooLarge { .. } => 10,
        }
    }
}
