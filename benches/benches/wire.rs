//! Criterion benches of the wire path, in process: a Produce request (v9, one
//! partition, one batch) decoded, appended and answered, and a Fetch request (v12) of
//! 1 MiB answered, both through `protocol::handle_request` as a connection calls it,
//! without a socket. Run: `cargo bench -p minikafka-benches --bench wire`.
//!
//! Where it sits: bench → **handle_request** (header and body decode, dispatch, the
//! produce/fetch handler, `spawn_blocking` to the partition log, response encode). The
//! layer below alone is the `log` bench; the difference is the cost of the request path.
//!
//! What a change must not break:
//! - The request bytes are what a client sends (the `kafka-protocol` crate's encoder,
//!   with a batch built by the broker's own `record::build`), so the handler does its
//!   real work: no error path is measured. Each bench checks one answer first.
//! - Produce writes to a fresh topic per sample (deleted after it), so the files never
//!   grow past one sample, and the default `FsyncPolicy::Never` is kept.
//! - Fetch strides through a pre-filled log (by 7919 offsets) instead of rereading one
//!   batch; its throughput counts the records the answer really carries. The answer
//!   holds the stored batches as file slices (`protocol/response.rs`: the connection
//!   sends them with `sendfile`), so the bench measures everything up to that send,
//!   and no copy of the records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceResponse};
use kafka_protocol::protocol::Decodable;
use minikafka_benches::batch;
use minikafka_broker::group::GroupCoordinator;
use minikafka_broker::protocol::{encode_request, handle_request, BrokerContext};
use minikafka_broker::security::session::Session;
use minikafka_broker::security::{Listener, Security};
use minikafka_broker::topics::Topics;
use minikafka_broker::Config;
use minikafka_testkit::wire::{fetch_request, produce_request};
use tokio::runtime::Runtime;

/// A broker's request context over a temp data dir, as `Broker::start` builds it, with
/// the per-request log line off.
fn context() -> (tempfile::TempDir, BrokerContext) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        log_requests: false,
        ..Config::default()
    };
    let topics = Arc::new(Topics::open(dir.path(), config.log.clone()).expect("topics"));
    let groups = GroupCoordinator::open(topics.clone(), &config).expect("coordinator");
    let txn = minikafka_broker::txn::TransactionCoordinator::open(
        topics.clone(),
        groups.clone(),
        &config,
    )
    .expect("transaction coordinator");
    let listener = Arc::new(Listener::plaintext("127.0.0.1:9092".parse().expect("addr")));
    let security = Security::open(&config).expect("security");
    let (stop, shutdown) = minikafka_broker::shutdown::channel();
    // The context lives as long as the bench; so does the sender it listens to.
    std::mem::forget(stop);
    (
        dir,
        BrokerContext::new(
            topics,
            groups,
            txn,
            config,
            vec![listener],
            security,
            shutdown,
        ),
    )
}

/// A session on the context's (only) listener, as a plaintext connection has.
fn session(ctx: &BrokerContext) -> Session {
    Session::new(ctx.listeners[0].clone(), None, None)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The body of a response frame (after the header: correlation id, plus a tagged-field
/// byte when `flexible`).
fn body(mut answer: Bytes, flexible: bool) -> Bytes {
    answer.advance(4);
    if flexible {
        answer.advance(1);
    }
    answer
}

fn produce(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, ctx) = context();
    let sample = AtomicU32::new(0);
    let mut g = c.benchmark_group("wire_produce");
    for (name, records, value_len) in [("v9_500x100B", 500, 100), ("v9_500x1KiB", 500, 1024)] {
        let records_bytes = Bytes::from(batch(records, value_len));
        g.throughput(Throughput::ElementsAndBytes {
            elements: records as u64,
            bytes: records_bytes.len() as u64,
        });
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let topic = format!("wire-{}", sample.fetch_add(1, Ordering::Relaxed));
                ctx.topics
                    .create(&topic, 1, BTreeMap::new())
                    .expect("create topic");
                let req = produce_request(&topic, 0, records_bytes.clone(), 1);
                let frame = encode_request(ApiKey::Produce, 9, 1, "bench", &req).expect("encodes");
                let frame = frame.freeze();
                let mut session = session(&ctx);
                let answer = rt
                    .block_on(handle_request(&ctx, frame.clone(), &mut session))
                    .expect("answered")
                    .expect("acks=1 answers")
                    .to_bytes()
                    .expect("response bytes");
                let resp = ProduceResponse::decode(&mut body(answer, true), 9).expect("decodes");
                let part = &resp.responses[0].partition_responses[0];
                assert_eq!(part.error_code, 0, "produce refused: {part:?}");
                let start = Instant::now();
                rt.block_on(async {
                    for _ in 0..iters {
                        handle_request(&ctx, frame.clone(), &mut session)
                            .await
                            .expect("answered");
                    }
                });
                let elapsed = start.elapsed();
                ctx.topics.delete(&topic).expect("delete topic");
                elapsed
            })
        });
    }
    g.finish();
}

fn fetch(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, ctx) = context();
    let topic = "wire-fetch";
    ctx.topics
        .create(topic, 1, BTreeMap::new())
        .expect("create topic");
    let partition = ctx.topics.partition(topic, 0).expect("partition");
    let template = batch(500, 100);
    for _ in 0..200 {
        partition.append(&template).expect("append");
    }
    let end = partition.log_end_offset();
    let frame_at = |offset: i64| {
        let req = fetch_request(topic, 0, offset, 0, 1);
        encode_request(ApiKey::Fetch, 12, 1, "bench", &req)
            .expect("encodes")
            .freeze()
    };
    // What one answer carries: the records bytes of a fetch at offset 0.
    let mut session = session(&ctx);
    let answer = rt
        .block_on(handle_request(&ctx, frame_at(0), &mut session))
        .expect("answered")
        .expect("fetch answers")
        .to_bytes()
        .expect("response bytes");
    let resp = FetchResponse::decode(&mut body(answer, true), 12).expect("decodes");
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.error_code, 0, "fetch refused: {part:?}");
    let got = part.records.as_ref().map_or(0, Bytes::len) as u64;
    let batches = got / template.len() as u64;
    assert!(batches > 0, "a 1 MiB fetch returned {got} bytes");
    // Frames for 256 offsets of the stride, built before the clock starts.
    let frames: Vec<Bytes> = (1..=256).map(|i| frame_at(i * 7919 % end)).collect();
    let mut g = c.benchmark_group("wire_fetch");
    g.throughput(Throughput::ElementsAndBytes {
        elements: batches * 500,
        bytes: got,
    });
    g.bench_function(BenchmarkId::from_parameter("v12_1MiB"), |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % frames.len();
            rt.block_on(handle_request(&ctx, frames[i].clone(), &mut session))
                .expect("answered")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = produce, fetch
}
criterion_main!(benches);
