//! Kafka's consumer protocol: what a group member puts in JoinGroup (its subscription) and
//! what the leader puts in SyncGroup (each member's assignment). The broker never looks
//! inside these bytes; only the members do, so every client in a group must agree on them.
//!
//! Where it sits: consumer → **subscription bytes** → JoinGroup → leader → assignor →
//! **assignment bytes** → SyncGroup → every member → fetch.
//!
//! # Subscription (`ConsumerProtocolSubscription`), all integers big-endian
//!
//! | bytes | field | versions |
//! |---|---|---|
//! | 2 | version i16 | all |
//! | 4 + … | topics: array of strings (i32 count, then i16 length + UTF-8 each) | 0+ |
//! | 4 + … | user_data: bytes (i32 length, -1 = null) | 0+ |
//! | 4 + … | owned_partitions: array of (topic string, array of i32 partitions) | 1+ |
//! | 4 | generation_id i32 | 2+ |
//! | 2 + … | rack_id: nullable string | 3+ |
//!
//! # Assignment (`ConsumerProtocolAssignment`)
//!
//! | bytes | field | versions |
//! |---|---|---|
//! | 2 | version i16 | all |
//! | 4 + … | assigned_partitions: array of (topic string, array of i32 partitions) | 0+ |
//! | 4 + … | user_data: bytes (i32 length, -1 = null) | 0+ |
//!
//! Invariants:
//! - We write version 1 of both, as Java and librdkafka do for eager assignors, and
//!   decode any version: a version newer than the codec knows is read with the newest
//!   layout it knows, since Kafka only ever appends fields (as Java's `ConsumerProtocol`).
//! - The leader writes each assignment at the lowest subscription version in the group,
//!   so an older member can read it.
//! - An empty assignment (the broker sends zero bytes to a member the leader left out)
//!   means "no partitions".

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};

use crate::consumer::TopicPartition;
use crate::native::metadata::topic_name;

/// The version we write (what Java's and librdkafka's eager assignors send).
pub(crate) const WRITE_VERSION: i16 = 1;

/// A member's subscription, as the leader reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// The version the member wrote.
    pub(crate) version: i16,
    /// The topics it subscribes to.
    pub(crate) topics: Vec<String>,
}

/// Our subscription bytes: `topics` and what we own now (empty after an eager revoke).
pub(crate) fn encode_subscription(topics: &[String], owned: &[TopicPartition]) -> Bytes {
    let mut s = ConsumerProtocolSubscription::default();
    s.topics = topics
        .iter()
        .map(|t| StrBytes::from_string(t.clone()))
        .collect();
    s.owned_partitions = group_by_topic(owned)
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedTopic::default()
                .with_topic(topic_name(&topic))
                .with_partitions(partitions)
        })
        .collect();
    encode_versioned(&s, WRITE_VERSION)
}

/// Read a member's subscription bytes, any version.
pub(crate) fn decode_subscription(bytes: &Bytes) -> Result<Subscription, String> {
    let (version, s): (i16, ConsumerProtocolSubscription) = decode_versioned(bytes)?;
    Ok(Subscription {
        version,
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
    })
}

/// Assignment bytes for one member, at `version` (at most what we write).
pub(crate) fn encode_assignment(partitions: &[TopicPartition], version: i16) -> Bytes {
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = group_by_topic(partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            AssignedTopic::default()
                .with_topic(topic_name(&topic))
                .with_partitions(partitions)
        })
        .collect();
    encode_versioned(&a, version.clamp(0, WRITE_VERSION))
}

/// Read our assignment from SyncGroup, any version; empty bytes mean nothing assigned.
pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (_, a): (i16, ConsumerProtocolAssignment) = decode_versioned(bytes)?;
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic.as_str(), p))
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn group_by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            (t.to_string(), ps)
        })
        .collect()
}

fn encode_versioned<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Encoding fails only for a field the version cannot carry; ours are all version 0+.
    if let Err(e) = message.encode(&mut buf, version) {
        tracing::error!(error = %e, "cannot encode consumer protocol v{version}");
    }
    buf.freeze()
}

fn decode_versioned<M: Decodable + Message>(bytes: &Bytes) -> Result<(i16, M), String> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(format!(
            "{} bytes, too short for the version field",
            buf.remaining()
        ));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("negative version {version}"));
    }
    // Newer versions only append fields: read them with the newest layout we know.
    let read_as = version.min(M::VERSIONS.max);
    let message = M::decode(&mut buf, read_as)
        .map_err(|e| format!("cannot decode version {version}: {e:#}"))?;
    Ok((version, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn subscription_round_trips_and_has_kafkas_layout() {
        let bytes = encode_subscription(&["t".to_string()], &[]);
        // version 1 | 1 topic | "t" | null user data | 0 owned partitions
        assert_eq!(
            bytes.as_ref(),
            &[0, 1, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
        let s = decode_subscription(&bytes).unwrap();
        assert_eq!(s.topics, vec!["t"]);
        assert_eq!(s.version, 1);
    }

    #[test]
    fn version_0_and_future_versions_decode() {
        // What kafka-python sends: version 0, topics, user data (empty, not null).
        let v0: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 2, b'a', b'b', 0, 0, 0, 0];
        assert_eq!(
            decode_subscription(&Bytes::from_static(v0)).unwrap().topics,
            vec!["ab"]
        );
        // A version from the future with extra trailing fields still yields the topics.
        let mut future = encode_subscription(&["x".to_string()], &[tp("x", 0)]).to_vec();
        future[1] = 9;
        future.extend_from_slice(&[0, 0, 0, 7, 0xff, 0xff, 1, 2, 3]);
        let s = decode_subscription(&Bytes::from(future)).unwrap();
        assert_eq!((s.version, s.topics), (9, vec!["x".to_string()]));
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])).is_err());
    }

    #[test]
    fn assignment_round_trips_grouped_by_topic() {
        let owned = [tp("b", 2), tp("a", 1), tp("b", 0)];
        for version in [0, 1] {
            let bytes = encode_assignment(&owned, version);
            assert_eq!(&bytes[..2], &[0, version as u8]);
            assert_eq!(
                decode_assignment(&bytes).unwrap(),
                vec![tp("a", 1), tp("b", 0), tp("b", 2)]
            );
        }
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
    }
}
