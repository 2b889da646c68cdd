//! A Kafka client that speaks raw frames, built on the `kafka-protocol` crate's codecs,
//! so tests check our bytes against an independent encoder; plus the request builders
//! and the batch encoder/decoder the protocol tests share.
//!
//! Flow: test → **wire::Client** → TCP → the broker's connection → protocol handlers.
//!
//! What must stay true: every network wait is bounded by [`WAIT`], so a broken broker
//! fails a test instead of hanging it; the client never hides what the broker sent
//! (trailing bytes and wrong correlation ids fail the test).

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use minikafka_broker::log::record_batch::set_base_offset;
use minikafka_broker::protocol::encode_request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WAIT;

/// A Kafka client that speaks raw frames.
pub struct Client {
    pub stream: TcpStream,
    next_correlation_id: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Client {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Encodes header + body of a request (without the size prefix).
    pub fn encode_request<R: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &R,
    ) -> (i32, BytesMut) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let buf = encode_request(api, version, correlation_id, "minikafka-test", body)
            .expect("request encodes");
        (correlation_id, buf)
    }

    /// Sends one request; returns its correlation id.
    pub async fn send<R: Encodable>(&mut self, api: ApiKey, version: i16, body: &R) -> i32 {
        let (correlation_id, buf) = self.encode_request(api, version, body);
        self.send_frame(&buf).await;
        correlation_id
    }

    /// Sends `body` with a correct size prefix.
    pub async fn send_frame(&mut self, body: &[u8]) {
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(body);
        self.send_raw(&frame).await;
    }

    /// Sends bytes exactly as given.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// The next response frame (without its size), or `None` if the broker closed
    /// the connection.
    pub async fn recv_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        let read = tokio::time::timeout(WAIT, self.stream.read_exact(&mut size))
            .await
            .expect("a response or a close in time");
        if read.is_err() {
            return None;
        }
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut body))
            .await
            .expect("the rest of the response in time")
            .ok()?;
        Some(Bytes::from(body))
    }

    /// Reads one response and decodes it as `api` at `version`.
    pub async fn recv<T: Decodable>(&mut self, api: ApiKey, version: i16) -> (i32, T) {
        let mut frame = self.recv_frame().await.expect("a response, not a close");
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .expect("decode response header");
        let body = T::decode(&mut frame, version).expect("decode response body");
        assert_eq!(
            frame.remaining(),
            0,
            "trailing bytes after {api:?} v{version}"
        );
        (header.correlation_id, body)
    }

    /// One request, one response, correlation id checked.
    pub async fn call<R: Encodable, T: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &R,
    ) -> T {
        let sent = self.send(api, version, body).await;
        let (got, resp) = self.recv(api, version).await;
        assert_eq!(sent, got, "correlation id");
        resp
    }

    /// True when the broker has closed this connection (EOF or reset) within [`WAIT`].
    pub async fn is_closed_by_broker(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(WAIT, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) | Err(_) => false,
        }
    }

    /// Creates a topic and asserts it worked.
    pub async fn create_topic(&mut self, name: &str, partitions: i32) {
        let code = self.create_topic_with(name, partitions, &[]).await;
        assert_eq!(code, 0, "create {name}");
    }

    /// Creates a topic with topic configs (`("retention.ms", "1000")`, ...); returns
    /// the CreateTopics error code (0: created).
    pub async fn create_topic_with(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> i16 {
        use kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        use kafka_protocol::protocol::StrBytes;
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string((*k).to_string()))
                    .with_value(Some(StrBytes::from_string((*v).to_string())))
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(5000);
        let resp: kafka_protocol::messages::CreateTopicsResponse =
            self.call(ApiKey::CreateTopics, 7, &req).await;
        resp.topics[0].error_code
    }

    /// Sets one topic config with IncrementalAlterConfigs v1 (SET); returns the
    /// resource's error code (0: done).
    pub async fn alter_topic_config(&mut self, topic: &str, name: &str, value: &str) -> i16 {
        use kafka_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        use kafka_protocol::messages::{
            IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
        };
        let s = |t: &str| StrBytes::from_string(t.to_string());
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2) // TOPIC
                .with_resource_name(s(topic))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(name))
                    .with_config_operation(0) // SET
                    .with_value(Some(s(value)))]),
        ]);
        let resp: IncrementalAlterConfigsResponse =
            self.call(ApiKey::IncrementalAlterConfigs, 1, &req).await;
        resp.responses[0].error_code
    }

    /// Produces `records` to one partition with Produce v9; returns the partition result.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        let resp: ProduceResponse = self
            .call(
                ApiKey::Produce,
                9,
                &produce_request(topic, partition, records, -1),
            )
            .await;
        resp.responses[0].partition_responses[0].clone()
    }

    /// Fetch v12 of one partition.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        min_bytes: i32,
    ) -> kafka_protocol::messages::fetch_response::PartitionData {
        let req = fetch_request(topic, partition, offset, max_wait_ms, min_bytes);
        let resp: FetchResponse = self.call(ApiKey::Fetch, 12, &req).await;
        assert_eq!(resp.error_code, 0);
        resp.responses[0].partitions[0].clone()
    }
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])])
}

/// One v2 record batch (no compression) holding `(key, value)` records, with
/// timestamps `base_ts`, `base_ts + 1`, ….
pub fn batch(records: &[(Option<&str>, &str)], base_ts: i64) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The crate's encoder keeps records in one batch only while
            // `offset - sequence` stays the same; this also gives baseSequence -1,
            // what a non-idempotent producer sends.
            sequence: i as i32 - 1,
            timestamp: base_ts + i as i64,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// One v2 record batch from an idempotent producer: `producer_id` at `epoch`, its
/// records numbered from `base_sequence`, stamped with the time now; `transactional`
/// sets attribute bit 4.
pub fn producer_batch(
    values: &[&str],
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    transactional: bool,
) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: now + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// `(offset, key, value)` of every record in fetched bytes.
pub fn decode_records(mut records: Bytes) -> Vec<(i64, Option<String>, String)> {
    RecordBatchDecoder::decode_all(&mut records)
        .expect("decode fetched batches")
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| {
            (
                r.offset,
                r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

/// `bytes` with its base offset replaced and the leader epoch 0 stamped, as the broker
/// stores it (see `PartitionLog::append`).
pub fn with_base_offset(bytes: &Bytes, base_offset: i64) -> Vec<u8> {
    let mut v = bytes.to_vec();
    set_base_offset(&mut v, base_offset);
    v[minikafka_broker::log::record_batch::PARTITION_LEADER_EPOCH]
        .copy_from_slice(&0i32.to_be_bytes());
    v
}

/// Metadata for `names`; `allow_create` is the v4+ auto-creation flag.
pub fn metadata_for(names: &[&str], allow_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_create)
}

/// ListOffsets of partition 0 of `topic`, one entry per timestamp asked.
pub fn list_offsets(topic: &str, timestamps: &[i64]) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                timestamps
                    .iter()
                    .map(|&ts| {
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(ts)
                    })
                    .collect(),
            )])
}
