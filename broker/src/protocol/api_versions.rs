//! ApiVersions (key 18): the first request of every client, which tells it which
//! APIs and versions this broker speaks.
//!
//! Flow: a client connects (wire) → **ApiVersions** → it picks, per API, the highest
//! version both sides support → every later request uses those versions.
//!
//! # Response, v0–v2 (non-flexible) and v3–v4 (flexible)
//!
//! v4 is v3 with one fix to the `supported_features` tag (KAFKA-17011: a feature's
//! min version may be 0); this broker advertises no features, so both encode the same.
//!
//! | field            | v0–v2                     | v3–v4                                |
//! |------------------|---------------------------|--------------------------------------|
//! | header           | correlation_id i32        | correlation_id i32 (still header v0!) |
//! | error_code       | i16                       | i16                                  |
//! | api_keys         | i32 count, then entries   | uvarint count+1, then entries        |
//! | entry            | key i16, min i16, max i16 | key, min, max, tagged fields (0x00)  |
//! | throttle_time_ms | i32 (v1+)                 | i32                                  |
//! | tagged fields    | —                         | uvarint count (0: no features)       |
//!
//! What must stay true:
//! - [`SUPPORTED`] is the one table of APIs and versions: `protocol::handle_request`
//!   checks every request against it and has one match arm per entry, and ApiVersions
//!   advertises exactly it.
//! - An ApiVersions version we do not support is answered in the **v0 format** with
//!   UNSUPPORTED_VERSION (35) and one entry, ApiVersions' own range, as Kafka's
//!   `ApiVersionsRequest.getErrorResponse` does (KIP-511), so clients such as
//!   kafka-python and librdkafka retry at the highest version both know.
//! - Produce is advertised from v0 although only v3+ is served ([`advertised_min`]),
//!   as Kafka 4.0 does (KAFKA-18659): librdkafka before 2.11.1 compresses with gzip,
//!   snappy or lz4 only when the broker advertises Produce v0. A v0–v2 request that
//!   does arrive is refused by closing the connection (`protocol::handle_request`).
//! - The response header is always v0 (no tagged fields), even for v3: clients parse
//!   it before they know our versions. A v1 header here is what makes librdkafka 2.0.2
//!   fail with "read buffer underflow".

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use super::BrokerContext;

/// Every API this broker answers, as `(api, min_version, max_version)`, sorted by key.
///
/// Ranges are where what librdkafka 2.0–2.16, kafka-python 3 and the Java client send
/// meets what the `kafka-protocol` crate encodes, and stop before versions that need
/// features this broker lacks (topic ids: Fetch v13+, Produce v13, Metadata v13;
/// ListOffsets v8 asks for tiered storage's offsets). The served range; what
/// ApiVersions advertises differs only in Produce's minimum ([`advertised_min`]).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12), // v0: an empty topic list means all topics
    (ApiKey::OffsetCommit, 2, 9), // v9: GROUP_ID_NOT_FOUND
    (ApiKey::OffsetFetch, 1, 9), // v8: several groups
    (ApiKey::FindCoordinator, 0, 6), // v4: coordinator_keys
    (ApiKey::JoinGroup, 0, 9), // v4: MEMBER_ID_REQUIRED; v5: static
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5), // v3+: a batch of members
    (ApiKey::SyncGroup, 0, 5),  // v5: protocol type and name
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),    // v4: states, v5: types filter
    (ApiKey::SaslHandshake, 0, 1), // v0: raw tokens follow (librdkafka 2.0 needs it listed)
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4), // v0-1: the crate does not encode them
    (ApiKey::AddPartitionsToTxn, 0, 3),   // v4+: brokers only (KIP-890)
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4), // v5: KIP-890 "transaction v2", not served
    (ApiKey::TxnOffsetCommit, 0, 4), // v5 likewise
    (ApiKey::DescribeConfigs, 1, 4), // v0: the crate does not encode it
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 1), // v2 (fenced brokers) is Kafka 4.0's
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1), // v2: transactional_id_pattern (Kafka 4.1)
];

/// The minimum version ApiVersions advertises for `api`: Produce's is 0, below the
/// v3 it serves, as Kafka 4.0 answers (`ApiKeys.PRODUCE_API_VERSIONS_RESPONSE_MIN_VERSION`);
/// every other API's is its served minimum.
pub fn advertised_min(api: ApiKey, served_min: i16) -> i16 {
    if api == ApiKey::Produce {
        0
    } else {
        served_min
    }
}

/// Every supported API as ApiVersions advertises it, `(api_key, min, max)`, sorted by key.
pub fn supported() -> Vec<(i16, i16, i16)> {
    SUPPORTED
        .iter()
        .map(|&(api, min, max)| (api as i16, advertised_min(api, min), max))
        .collect()
}

/// The supported `(min, max)` versions of one API, if it is supported at all.
pub fn supported_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|&(_, min, max)| (min, max))
}

fn api_keys() -> Vec<ApiVersion> {
    supported()
        .into_iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// ApiVersions v0–v4.
pub async fn handle(
    _ctx: &BrokerContext,
    req: ApiVersionsRequest,
    version: i16,
) -> (ApiVersionsResponse, String) {
    let resp = ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(api_keys())
        .with_throttle_time_ms(0);
    let client = if version >= 3 {
        format!(
            " from {} {}",
            req.client_software_name.as_str(),
            req.client_software_version.as_str()
        )
    } else {
        String::new()
    };
    let line = format!(
        "api_versions v{version}{client} -> {} APIs advertised",
        resp.api_keys.len()
    );
    (resp, line)
}

/// The whole response (header + body) to an ApiVersions request of a version we do
/// not support: v0 format, UNSUPPORTED_VERSION and ApiVersions' own range only, as
/// Kafka answers (the client retries at `min(its max, our max)`, then learns the rest).
/// Written by hand, field by field, because this is the one answer whose layout
/// must not depend on the version the client asked for:
///
/// | bytes | field                                          |
/// |-------|------------------------------------------------|
/// | 0–3   | correlation_id i32 (header v0)                 |
/// | 4–5   | error_code i16 = 35 UNSUPPORTED_VERSION        |
/// | 6–9   | api_keys count i32 = 1                         |
/// | 10–15 | key i16 = 18, min_version i16, max_version i16 |
pub fn unsupported_version_response(correlation_id: i32) -> Bytes {
    let keys: Vec<_> = supported()
        .into_iter()
        .filter(|&(key, _, _)| key == ApiKey::ApiVersions as i16)
        .collect();
    let mut buf = BytesMut::with_capacity(10 + 6 * keys.len());
    buf.put_i32(correlation_id);
    buf.put_i16(ResponseError::UnsupportedVersion.code());
    buf.put_i32(keys.len() as i32);
    for (key, min, max) in keys {
        buf.put_i16(key);
        buf.put_i16(min);
        buf.put_i16(max);
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_by_key_without_repeats() {
        let keys: Vec<i16> = supported().iter().map(|&(key, _, _)| key).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(SUPPORTED
            .iter()
            .all(|&(_, min, max)| 0 <= min && min <= max));
    }

    #[test]
    fn produce_is_advertised_from_v0_and_served_from_v3() {
        let produce = supported()[0];
        assert_eq!(produce, (0, 0, 9));
        assert_eq!(supported_range(ApiKey::Produce), Some((3, 9)));
    }

    #[test]
    fn the_unsupported_version_answer_lists_only_api_versions() {
        let bytes = unsupported_version_response(42);
        let expected: &[u8] = &[0, 0, 0, 42, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4];
        assert_eq!(&bytes[..], expected);
    }
}
