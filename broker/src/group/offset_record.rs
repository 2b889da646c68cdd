//! One record of `__consumer_offsets`: a committed offset, in Kafka's own format, so
//! `inspect dump __consumer_offsets-0` reads like Kafka's and Kafka's tools could read
//! our files. The key says whose offset it is, the value what was committed; a record
//! with a null value (a tombstone) deletes the key.
//!
//! What must stay true: the bytes follow these tables exactly (the unit tests check
//! them byte by byte), and decoding never panics on foreign or torn bytes: it returns
//! an error the replay skips (fuzzed by the `offsets_records` target).
//!
//! Key, `OffsetCommitKey` version 1 (all integers big-endian, strings are i16 length + UTF-8):
//!
//! | bytes        | field                       |
//! |--------------|-----------------------------|
//! | 0–1          | key version i16 = 1         |
//! | 2–3          | group length G i16          |
//! | 4 .. 4+G     | group id                    |
//! | next 2       | topic length T i16          |
//! | next T       | topic name                  |
//! | next 4       | partition i32               |
//!
//! Value, `OffsetCommitValue` version 3 (null value = tombstone, the offset is deleted):
//!
//! | bytes        | field                                   |
//! |--------------|-----------------------------------------|
//! | 0–1          | value version i16 = 3                   |
//! | 2–9          | committed offset i64                    |
//! | 10–13        | leader epoch i32 (-1 = unknown)         |
//! | 14–15        | metadata length M i16                   |
//! | 16 .. 16+M   | metadata string (UTF-8)                 |
//! | next 8       | commit timestamp i64 (ms since epoch)   |
//!

use bytes::{Buf, BufMut, Bytes, BytesMut};

const KEY_VERSION: i16 = 1;
const VALUE_VERSION: i16 = 3;

/// Identifies one committed offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// What was committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A string of Kafka's internal-topic records (`__consumer_offsets`, and
/// `__transaction_state` in `txn/state_log.rs`): i16 length, then UTF-8.
pub(crate) fn put_str(buf: &mut BytesMut, s: &str) {
    // Callers bound the lengths (group ids, topic names, metadata <= 4096 bytes).
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    buf.put_i16(len);
    buf.put_slice(&s.as_bytes()[..len as usize]);
}

/// Reads a string [`put_str`] wrote; an error (never a panic) on cut or foreign bytes.
pub(crate) fn get_str(buf: &mut Bytes) -> Result<String, String> {
    if buf.remaining() < 2 {
        return Err("truncated string length".into());
    }
    let len = buf.get_i16();
    let len = usize::try_from(len).map_err(|_| format!("negative string length {len}"))?;
    if buf.remaining() < len {
        return Err(format!(
            "string of {len} bytes but only {} left",
            buf.remaining()
        ));
    }
    let bytes = buf.split_to(len);
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("string is not UTF-8: {e}"))
}

/// Encodes a key as in the byte table above.
pub fn encode_key(key: &OffsetKey) -> Bytes {
    let mut buf = BytesMut::with_capacity(10 + key.group.len() + key.topic.len());
    buf.put_i16(KEY_VERSION);
    put_str(&mut buf, &key.group);
    put_str(&mut buf, &key.topic);
    buf.put_i32(key.partition);
    buf.freeze()
}

/// Decodes a key; any key version other than 0 or 1 (e.g. Kafka's group-metadata key,
/// version 2) is an error the replay skips.
pub fn decode_key(mut buf: Bytes) -> Result<OffsetKey, String> {
    if buf.remaining() < 2 {
        return Err("key shorter than its version".into());
    }
    let version = buf.get_i16();
    if !(0..=1).contains(&version) {
        return Err(format!("key version {version} is not an offset-commit key"));
    }
    let group = get_str(&mut buf)?;
    let topic = get_str(&mut buf)?;
    if buf.remaining() != 4 {
        return Err(format!(
            "{} bytes where the partition i32 should be",
            buf.remaining()
        ));
    }
    Ok(OffsetKey {
        group,
        topic,
        partition: buf.get_i32(),
    })
}

/// Encodes a value as in the byte table above.
pub fn encode_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + value.metadata.len());
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_str(&mut buf, &value.metadata);
    buf.put_i64(value.commit_timestamp);
    buf.freeze()
}

/// Decodes a value of version 3 (the one written here).
pub fn decode_value(mut buf: Bytes) -> Result<CommittedOffset, String> {
    if buf.remaining() < 14 {
        return Err(format!("value of {} bytes is too short", buf.remaining()));
    }
    let version = buf.get_i16();
    if version != VALUE_VERSION {
        return Err(format!("unsupported value version {version}"));
    }
    let offset = buf.get_i64();
    let leader_epoch = buf.get_i32();
    let metadata = get_str(&mut buf)?;
    if buf.remaining() != 8 {
        return Err(format!(
            "{} bytes where the timestamp i64 should be",
            buf.remaining()
        ));
    }
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp: buf.get_i64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_follow_the_table() {
        let key = OffsetKey {
            group: "g".into(),
            topic: "t1".into(),
            partition: 7,
        };
        let bytes = encode_key(&key);
        assert_eq!(
            &bytes[..],
            &[0, 1, 0, 1, b'g', 0, 2, b't', b'1', 0, 0, 0, 7]
        );
        assert_eq!(decode_key(bytes).unwrap(), key);
    }

    #[test]
    fn value_round_trips_and_keeps_metadata() {
        let value = CommittedOffset {
            offset: 42,
            leader_epoch: -1,
            metadata: "hello".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        let bytes = encode_value(&value);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..10], &42i64.to_be_bytes());
        assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 5 + 8);
        assert_eq!(decode_value(bytes).unwrap(), value);
    }
}
