//! A consumer-protocol assignment, decoded: which partitions of which topics the leader
//! gave one member. The broker stores a member's assignment as the opaque bytes the
//! leader sent in SyncGroup; only the group's own clients must understand them. For the
//! `consumer` protocol type they are Kafka's ConsumerProtocolAssignment, and this file
//! is the one place the broker reads them: for its log lines (`sync.rs`), for
//! `inspect groups --bootstrap-server` (`inspect/remote.rs`) and for the dashboard's
//! snapshot (`snapshot.rs`).
//!
//! | bytes | field                                              |
//! |-------|----------------------------------------------------|
//! | 2     | version (i16)                                      |
//! | …     | assigned partitions: [topic (string), [partition (i32)]] |
//! | …     | user data (bytes, may be null)                     |
//!
//! What must stay true: later versions only add fields at the end, so bytes of a newer
//! version are read as the newest version we know (Kafka's own coordinator does the
//! same). Empty bytes (a member that has not synced yet) are an empty assignment.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;

/// The partitions of one topic assigned to a member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assigned {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Decodes consumer-protocol assignment bytes; `None` when they do not decode.
pub fn decode(mut bytes: Bytes) -> Option<Vec<Assigned>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16().clamp(0, 3);
    let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version).ok()?;
    Some(
        decoded
            .assigned_partitions
            .into_iter()
            .map(|tp| Assigned {
                topic: tp.topic.to_string(),
                partitions: tp.partitions,
            })
            .collect(),
    )
}

/// The assignment of one member in words: `[demo-topic-0, demo-topic-2]` for the
/// consumer protocol, or a byte count for any other protocol (or undecodable bytes).
pub fn describe(protocol_type: Option<&str>, assignment: &Bytes) -> String {
    if assignment.is_empty() {
        return "[]".to_string();
    }
    let decoded = match protocol_type {
        Some("consumer") => decode(assignment.clone()),
        _ => None,
    };
    match decoded {
        Some(topics) => {
            let parts: Vec<String> = topics
                .iter()
                .flat_map(|a| a.partitions.iter().map(move |p| format!("{}-{p}", a.topic)))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        None => format!("<{} bytes>", assignment.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encoded(version: i16) -> Bytes {
        let mut a = ConsumerProtocolAssignment::default();
        let mut tp = TopicPartition::default();
        tp.topic = StrBytes::from_static_str("demo-topic").into();
        tp.partitions = vec![0, 2];
        a.assigned_partitions.push(tp);
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        a.encode(&mut buf, version.min(3)).expect("encodes");
        buf.freeze()
    }

    #[test]
    fn decodes_and_describes_each_version() {
        for version in 0..=4 {
            let bytes = encoded(version);
            let want = vec![Assigned {
                topic: "demo-topic".into(),
                partitions: vec![0, 2],
            }];
            assert_eq!(decode(bytes.clone()), Some(want), "version {version}");
            assert_eq!(
                describe(Some("consumer"), &bytes),
                "[demo-topic-0, demo-topic-2]"
            );
        }
    }

    #[test]
    fn empty_other_and_garbage() {
        assert_eq!(decode(Bytes::new()), Some(Vec::new()));
        assert_eq!(describe(Some("consumer"), &Bytes::new()), "[]");
        assert_eq!(
            describe(Some("connect"), &encoded(1)),
            format!("<{} bytes>", encoded(1).len())
        );
        assert_eq!(decode(Bytes::from_static(&[0, 1, 0xff])), None);
        assert_eq!(
            describe(Some("consumer"), &Bytes::from_static(&[7])),
            "<1 bytes>"
        );
    }
}
