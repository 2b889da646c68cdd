//! Property: after any sequence of commits, new generations and broker restarts,
//! OffsetFetch returns the last successful commit of each partition, and a commit with a
//! stale generation (or from a member that is gone) changes nothing.
//!
//! A restart here is what a broker restart does to the coordinator: shut it down, close and
//! drop the topics, reopen the same data dir and replay `__consumer_offsets`.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{GroupId, LeaveGroupRequest};
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::group::{self, GroupCoordinator};
use minikafka_broker::topics::Topics;
use minikafka_testkit::groups::*;
use proptest::prelude::*;

const GROUP: &str = "prop-group";
const SESSION: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Op {
    /// The current member commits (or a simple commit when the group has no member).
    Commit {
        partition: i32,
        offset: i64,
        metadata: String,
    },
    /// A member of an earlier generation (or the current member with an old generation
    /// number) commits: must be refused.
    StaleCommit { partition: i32, offset: i64 },
    /// The member leaves and a new member joins: the generation moves on.
    NewGeneration,
    /// The broker restarts.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3i32, 0..1_000_000i64, "[a-z]{0,8}").prop_map(|(partition, offset, metadata)| {
            Op::Commit { partition, offset, metadata }
        }),
        2 => (0..3i32, 0..1_000_000i64)
            .prop_map(|(partition, offset)| Op::StaleCommit { partition, offset }),
        1 => Just(Op::NewGeneration),
        1 => Just(Op::Restart),
    ]
}

struct World {
    dir: tempfile::TempDir,
    topics: Arc<Topics>,
    coordinator: Arc<GroupCoordinator>,
    /// The current member and its generation, if the group has one.
    member: Option<(String, i32)>,
    /// Members and generations that are over.
    past: Vec<(String, i32)>,
}

async fn join_alone(c: &GroupCoordinator) -> (String, i32) {
    let joined = join_new(c, GROUP, SESSION).await;
    assert_eq!(joined.error_code, 0);
    let id = joined.member_id.to_string();
    let sync = group::sync::handle(c, sync_req(GROUP, &id, joined.generation_id, &[]), 5)
        .await
        .0;
    assert_eq!(sync.error_code, 0);
    (id, joined.generation_id)
}

async fn leave(c: &GroupCoordinator, member: &str) {
    let mut req = LeaveGroupRequest::default();
    req.group_id = GroupId(StrBytes::from_string(GROUP.to_string()));
    req.member_id = StrBytes::from_string(member.to_string());
    assert_eq!(group::leave::handle(c, req, 1).await.0.error_code, 0);
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (topics, coordinator) = open(dir.path(), &cfg);
    let member = Some(join_alone(&coordinator).await);
    let mut w = World {
        dir,
        topics,
        coordinator,
        member,
        past: Vec::new(),
    };
    let mut model: BTreeMap<i32, (i64, String)> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Commit {
                partition,
                offset,
                metadata,
            } => {
                let (id, generation) = w.member.clone().unwrap_or((String::new(), -1));
                let resp = group::offset_commit::handle(
                    &w.coordinator,
                    commit_req(GROUP, &id, generation, &[(partition, offset, &metadata)]),
                    8,
                )
                .await
                .0;
                prop_assert_eq!(commit_errors(&resp), vec![(partition, 0)]);
                model.insert(partition, (offset, metadata));
            }
            Op::StaleCommit { partition, offset } => {
                let (id, generation) = match (w.past.last(), &w.member) {
                    (Some(old), _) => old.clone(),
                    (None, Some((id, generation))) => (id.clone(), generation - 1),
                    (None, None) => continue,
                };
                let resp = group::offset_commit::handle(
                    &w.coordinator,
                    commit_req(GROUP, &id, generation, &[(partition, offset, "stale")]),
                    8,
                )
                .await
                .0;
                let codes = commit_errors(&resp);
                prop_assert!(
                    codes == vec![(partition, 22)] || codes == vec![(partition, 25)],
                    "stale commit must be refused, got {:?}",
                    codes
                );
            }
            Op::NewGeneration => {
                if let Some((id, generation)) = w.member.take() {
                    leave(&w.coordinator, &id).await;
                    w.past.push((id, generation));
                }
                w.member = Some(join_alone(&w.coordinator).await);
            }
            Op::Restart => {
                w.coordinator.shutdown().await;
                w.topics.close().unwrap();
                if let Some(m) = w.member.take() {
                    w.past.push(m);
                }
                let (topics, coordinator) = open(w.dir.path(), &cfg);
                w.topics = topics;
                w.coordinator = coordinator;
            }
        }
        let got = fetched(
            &group::offset_fetch::handle(&w.coordinator, fetch_req(GROUP, Some(&[0, 1, 2])), 7)
                .await
                .0,
        );
        for p in 0..3 {
            let want = model.get(&p).cloned().unwrap_or((-1, String::new()));
            prop_assert_eq!(&got[&(TOPIC.to_string(), p)], &want, "partition {}", p);
        }
    }
    w.coordinator.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn fetch_returns_the_last_successful_commit(ops in proptest::collection::vec(op(), 1..24)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
