//! The group coordinator's flows, driven with real request structs on a real data dir:
//! join → sync → heartbeat → leave, session and rebalance timeouts (under
//! `tokio::time::pause`), offset commits and fetches, and FindCoordinator/List/Describe.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Buf;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, LeaveGroupRequest, ListGroupsRequest, OffsetFetchRequest,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use minikafka_broker::group::{self, ClientInfo, GroupCoordinator, NodeInfo};
use minikafka_testkit::groups::*;

const SESSION: Duration = Duration::from_secs(10);

fn sb(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn state_of(c: &GroupCoordinator, group: &str) -> (String, usize) {
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(sb(group))];
    let resp = group::describe_groups::handle(c, req, 5).await.0;
    let g = &resp.groups[0];
    (g.group_state.to_string(), g.members.len())
}

/// Two members in a Stable group at generation 2: returns (leader, follower, generation).
async fn two_member_group(
    c: &std::sync::Arc<GroupCoordinator>,
    group: &str,
) -> (String, String, i32) {
    let a = join_new(c, group, SESSION).await;
    assert_eq!(a.error_code, 0);
    assert_eq!(a.generation_id, 1);
    assert_eq!(a.leader, a.member_id, "the first member to join leads");
    let a_id = a.member_id.to_string();
    let s = group::sync::handle(
        c,
        sync_req(
            group,
            &a_id,
            1,
            &[(&a_id, assignment(&[(TOPIC, &[0, 1, 2])]))],
        ),
        3,
    )
    .await
    .0;
    assert_eq!(s.error_code, 0);
    assert_eq!(state_of(c, group).await.0, "Stable");

    // B joins: its JoinGroup waits until A has rejoined.
    let c2 = c.clone();
    let g2 = group.to_string();
    let b = tokio::spawn(async move { join_new(&c2, &g2, SESSION).await });
    while state_of(c, group).await.0 != "PreparingRebalance" {
        tokio::task::yield_now().await;
    }
    let hb = group::heartbeat::handle(c, heartbeat_req(group, &a_id, 1), 3)
        .await
        .0;
    assert_eq!(hb.error_code, 27, "REBALANCE_IN_PROGRESS tells A to rejoin");

    let a2 = group::join::handle(
        c,
        join_req(group, &a_id, &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    let b2 = b.await.unwrap();
    assert_eq!((a2.error_code, b2.error_code), (0, 0));
    assert_eq!((a2.generation_id, b2.generation_id), (2, 2));
    assert_eq!(a2.leader.as_str(), a_id);
    assert_eq!(b2.leader.as_str(), a_id);
    assert_eq!(a2.protocol_name.as_deref(), Some("roundrobin"));
    // Only the leader receives every member's subscription.
    assert_eq!(a2.members.len(), 2);
    assert!(b2.members.is_empty());
    for m in &a2.members {
        let mut meta = m.metadata.clone();
        let version = meta.get_i16();
        let sub = ConsumerProtocolSubscription::decode(&mut meta, version).unwrap();
        assert_eq!(sub.topics, vec![sb(TOPIC)]);
    }
    (a_id, b2.member_id.to_string(), 2)
}

#[tokio::test]
async fn leader_assigns_and_follower_receives_its_share() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;

    // The follower syncs first and waits for the leader.
    let c2 = c.clone();
    let b2 = b.clone();
    let follower = tokio::spawn(async move {
        group::sync::handle(&c2, sync_req("g", &b2, generation, &[]), 5)
            .await
            .0
    });
    tokio::task::yield_now().await;
    let a_share = assignment(&[(TOPIC, &[0, 2])]);
    let b_share = assignment(&[(TOPIC, &[1])]);
    let leader = group::sync::handle(
        &c,
        sync_req(
            "g",
            &a,
            generation,
            &[(&a, a_share.clone()), (&b, b_share.clone())],
        ),
        5,
    )
    .await
    .0;
    let follower = follower.await.unwrap();
    assert_eq!((leader.error_code, follower.error_code), (0, 0));
    assert_eq!(leader.assignment, a_share);
    assert_eq!(follower.assignment, b_share);
    assert_eq!(follower.protocol_name.as_deref(), Some("roundrobin"));
    let mut bytes = follower.assignment.clone();
    let v = bytes.get_i16();
    let decoded = ConsumerProtocolAssignment::decode(&mut bytes, v).unwrap();
    assert_eq!(decoded.assigned_partitions[0].partitions, vec![1]);

    assert_eq!(state_of(&c, "g").await, ("Stable".to_string(), 2));
    for (m, _) in [(&a, 0), (&b, 1)] {
        assert_eq!(
            group::heartbeat::handle(&c, heartbeat_req("g", m, generation), 4)
                .await
                .0
                .error_code,
            0
        );
    }
    assert_eq!(
        group::heartbeat::handle(&c, heartbeat_req("g", &a, generation - 1), 4)
            .await
            .0
            .error_code,
        22
    );
    assert_eq!(
        group::heartbeat::handle(&c, heartbeat_req("g", "nobody", generation), 4)
            .await
            .0
            .error_code,
        25
    );
    // A stable member rejoining with the same metadata gets the current generation back.
    let again = group::join::handle(
        &c,
        join_req("g", &b, &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!((again.error_code, again.generation_id), (0, generation));
    c.shutdown().await;
}

#[tokio::test]
async fn sync_with_wrong_generation_or_during_rebalance_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;
    let stale = group::sync::handle(&c, sync_req("g", &a, generation - 1, &[]), 5)
        .await
        .0;
    assert_eq!(stale.error_code, 22);
    let unknown = group::sync::handle(&c, sync_req("g", "ghost", generation, &[]), 5)
        .await
        .0;
    assert_eq!(unknown.error_code, 25);
    // B waits on SyncGroup; a third member joins before the leader syncs.
    let c2 = c.clone();
    let b2 = b.clone();
    let waiting = tokio::spawn(async move {
        group::sync::handle(&c2, sync_req("g", &b2, generation, &[]), 5)
            .await
            .0
    });
    tokio::task::yield_now().await;
    let c3 = c.clone();
    let _third = tokio::spawn(async move { join_new(&c3, "g", SESSION).await });
    let waiting = waiting.await.unwrap();
    assert_eq!(
        waiting.error_code, 27,
        "REBALANCE_IN_PROGRESS for the waiting follower"
    );
    let late = group::sync::handle(&c, sync_req("g", &a, generation, &[]), 5)
        .await
        .0;
    assert_eq!(late.error_code, 27);
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_is_removed_after_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;
    let sync = group::sync::handle(
        &c,
        sync_req(
            "g",
            &a,
            generation,
            &[(&a, assignment(&[(TOPIC, &[0, 1, 2])]))],
        ),
        5,
    )
    .await
    .0;
    assert_eq!(sync.error_code, 0);
    // A heartbeats every 3 s; B stays silent. After B's 10 s session, A is told to rejoin.
    let mut told = false;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let hb = group::heartbeat::handle(&c, heartbeat_req("g", &a, generation), 4)
            .await
            .0;
        if hb.error_code == 27 {
            told = true;
            break;
        }
        assert_eq!(hb.error_code, 0);
    }
    assert!(
        told,
        "A must see REBALANCE_IN_PROGRESS once B's session expired"
    );
    let rejoin = group::join::handle(
        &c,
        join_req("g", &a, &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(rejoin.error_code, 0);
    assert_eq!(rejoin.generation_id, generation + 1);
    assert_eq!(rejoin.members.len(), 1, "B is gone");
    let hb = group::heartbeat::handle(&c, heartbeat_req("g", &b, generation), 4)
        .await
        .0;
    assert_eq!(hb.error_code, 25, "B is unknown now");
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;
    group::sync::handle(&c, sync_req("g", &a, generation, &[]), 5).await;
    // A rejoins with new metadata (a new protocol list): B never rejoins.
    let start = tokio::time::Instant::now();
    let rejoin = group::join::handle(
        &c,
        join_req("g", &a, &["roundrobin", "range"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert!(
        start.elapsed() >= SESSION,
        "completed by the rebalance timeout"
    );
    assert_eq!(rejoin.error_code, 0);
    assert_eq!(rejoin.generation_id, generation + 1);
    assert_eq!(rejoin.members.len(), 1);
    assert_eq!(
        group::heartbeat::handle(&c, heartbeat_req("g", &b, generation), 4)
            .await
            .0
            .error_code,
        25
    );
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn initial_rebalance_delay_gathers_members_into_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.group_initial_rebalance_delay = Duration::from_secs(3);
    let (_topics, c) = open(dir.path(), &cfg);
    // JoinGroup v3: the member id is given at once, no MEMBER_ID_REQUIRED round trip.
    let c1 = c.clone();
    let first = tokio::spawn(async move {
        group::join::handle(
            &c1,
            join_req("g", "", &["roundrobin"], SESSION),
            3,
            &ClientInfo::default(),
        )
        .await
        .0
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c2 = c.clone();
    let second = tokio::spawn(async move {
        group::join::handle(
            &c2,
            join_req("g", "", &["roundrobin"], SESSION),
            3,
            &ClientInfo::default(),
        )
        .await
        .0
    });
    // 3.5 s: past the first window (0–3 s) but inside the one the second join opened (1–4 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let third = group::join::handle(
        &c,
        join_req("g", "", &["roundrobin"], SESSION),
        3,
        &ClientInfo::default(),
    )
    .await
    .0;
    let first = first.await.unwrap();
    let second = second.await.unwrap();
    assert_eq!(
        (first.error_code, second.error_code, third.error_code),
        (0, 0, 0)
    );
    assert_eq!(
        (
            first.generation_id,
            second.generation_id,
            third.generation_id
        ),
        (1, 1, 1)
    );
    assert_ne!(first.member_id, second.member_id);
    assert_eq!(first.members.len(), 3, "the leader sees all three");
    c.shutdown().await;
}

#[tokio::test]
async fn leave_group_rebalances_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;
    group::sync::handle(&c, sync_req("g", &a, generation, &[]), 5).await;
    let follower = group::sync::handle(&c, sync_req("g", &b, generation, &[]), 5)
        .await
        .0;
    assert_eq!(follower.error_code, 0);

    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(sb("g"));
    let mut who = MemberIdentity::default();
    who.member_id = sb(&b);
    let mut ghost = MemberIdentity::default();
    ghost.member_id = sb("ghost");
    leave.members = vec![who, ghost];
    let resp = group::leave::handle(&c, leave, 4).await.0;
    assert_eq!(resp.error_code, 0);
    let codes: Vec<i16> = resp.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, 25]);

    assert_eq!(
        group::heartbeat::handle(&c, heartbeat_req("g", &a, generation), 4)
            .await
            .0
            .error_code,
        27
    );
    let rejoin = group::join::handle(
        &c,
        join_req("g", &a, &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(
        (rejoin.generation_id, rejoin.members.len()),
        (generation + 1, 1)
    );

    // v0 leave of the last member: the group becomes Empty.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(sb("g"));
    leave.member_id = sb(&a);
    assert_eq!(group::leave::handle(&c, leave, 0).await.0.error_code, 0);
    assert_eq!(state_of(&c, "g").await, ("Empty".to_string(), 0));
    c.shutdown().await;
}

#[tokio::test]
async fn joins_are_checked_like_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let too_short = group::join::handle(
        &c,
        join_req("g", "", &["roundrobin"], Duration::from_secs(1)),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(too_short.error_code, 26, "INVALID_SESSION_TIMEOUT");
    let unknown = group::join::handle(
        &c,
        join_req("g", "made-up", &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(unknown.error_code, 25);
    let a = join_new(&c, "g", SESSION).await;
    assert_eq!(a.error_code, 0);
    assert!(a.member_id.starts_with("member-"));
    let other = group::join::handle(
        &c,
        join_req("g", "", &["range"], SESSION),
        3,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(other.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    let client = minikafka_broker::group::ClientInfo {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    };
    let first = group::join::handle(&c, join_req("h", "", &["roundrobin"], SESSION), 5, &client)
        .await
        .0;
    assert_eq!(first.error_code, 79);
    assert!(first.member_id.starts_with("c-"), "{}", first.member_id);
    c.shutdown().await;
}

#[tokio::test]
async fn commits_follow_generations_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (topics, c) = open(dir.path(), &cfg);
    let (a, b, generation) = two_member_group(&c, "g").await;
    let leader_sync = {
        let c2 = c.clone();
        let a2 = a.clone();
        tokio::spawn(async move {
            group::sync::handle(&c2, sync_req("g", &a2, generation, &[]), 5)
                .await
                .0
        })
    };
    group::sync::handle(&c, sync_req("g", &b, generation, &[]), 5).await;
    leader_sync.await.unwrap();

    let ok = group::offset_commit::handle(
        &c,
        commit_req("g", &a, generation, &[(0, 10, "from a"), (1, 20, "")]),
        8,
    )
    .await
    .0;
    assert_eq!(commit_errors(&ok), vec![(0, 0), (1, 0)]);
    let stale = group::offset_commit::handle(
        &c,
        commit_req("g", &a, generation - 1, &[(0, 99, "stale")]),
        8,
    )
    .await
    .0;
    assert_eq!(commit_errors(&stale), vec![(0, 22)]);
    let stranger =
        group::offset_commit::handle(&c, commit_req("g", "ghost", generation, &[(0, 98, "")]), 8)
            .await
            .0;
    assert_eq!(commit_errors(&stranger), vec![(0, 25)]);
    let simple = group::offset_commit::handle(&c, commit_req("g", "", -1, &[(0, 97, "")]), 8)
        .await
        .0;
    assert_eq!(
        commit_errors(&simple),
        vec![(0, 25)],
        "not while the group has members"
    );
    let nowhere =
        group::offset_commit::handle(&c, commit_req("g", &b, generation, &[(7, 1, "")]), 8)
            .await
            .0;
    assert_eq!(
        commit_errors(&nowhere),
        vec![(7, 3)],
        "UNKNOWN_TOPIC_OR_PARTITION"
    );

    let got = fetched(
        &group::offset_fetch::handle(&c, fetch_req("g", Some(&[0, 1, 2])), 7)
            .await
            .0,
    );
    assert_eq!(got[&(TOPIC.to_string(), 0)], (10, "from a".to_string()));
    assert_eq!(got[&(TOPIC.to_string(), 1)], (20, String::new()));
    assert_eq!(
        got[&(TOPIC.to_string(), 2)],
        (-1, String::new()),
        "nothing committed"
    );
    let all = fetched(
        &group::offset_fetch::handle(&c, fetch_req("g", None), 7)
            .await
            .0,
    );
    assert_eq!(all.len(), 2, "topics = null lists the committed partitions");

    // Restart: drop everything and reopen the same data dir.
    c.shutdown().await;
    drop(c);
    topics.close().unwrap();
    drop(topics);
    let (_topics, c) = open(dir.path(), &cfg);
    let after = fetched(
        &group::offset_fetch::handle(&c, fetch_req("g", None), 7)
            .await
            .0,
    );
    assert_eq!(after, all);
    // The old member's generation means nothing now; a simple commit to the Empty group works.
    let old = group::offset_commit::handle(&c, commit_req("g", &a, generation, &[(0, 11, "")]), 8)
        .await
        .0;
    assert_eq!(commit_errors(&old), vec![(0, 25)]);
    let simple = group::offset_commit::handle(&c, commit_req("g", "", -1, &[(2, 5, "tool")]), 2)
        .await
        .0;
    assert_eq!(commit_errors(&simple), vec![(2, 0)]);

    // v8: several groups in one request.
    let mut req = OffsetFetchRequest::default();
    let mut g = OffsetFetchRequestGroup::default();
    g.group_id = GroupId(sb("g"));
    let mut t = OffsetFetchRequestTopics::default();
    t.name = TopicName(sb(TOPIC));
    t.partition_indexes = vec![2];
    g.topics = Some(vec![t]);
    let mut other = OffsetFetchRequestGroup::default();
    other.group_id = GroupId(sb("never-committed"));
    req.groups = vec![g, other];
    let resp = group::offset_fetch::handle(&c, req, 8).await.0;
    assert_eq!(resp.groups.len(), 2);
    let p = &resp.groups[0].topics[0].partitions[0];
    assert_eq!(
        (p.committed_offset, p.metadata.as_deref()),
        (5, Some("tool"))
    );
    assert!(resp.groups[1].topics.is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn find_list_and_describe() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let node = NodeInfo {
        node_id: 1,
        host: "127.0.0.1".into(),
        port: 9092,
    };
    let mut req = FindCoordinatorRequest::default();
    req.key = sb("g");
    let one = group::find_coordinator::handle(&c, req, 3, &node).await.0;
    assert_eq!((one.error_code, one.node_id.0, one.port), (0, 1, 9092));
    assert_eq!(one.host.as_str(), "127.0.0.1");
    let mut req = FindCoordinatorRequest::default();
    req.coordinator_keys = vec![sb("g"), sb("h")];
    let batch = group::find_coordinator::handle(&c, req, 4, &node).await.0;
    assert_eq!(batch.coordinators.len(), 2);
    assert_eq!(batch.coordinators[1].key.as_str(), "h");
    assert_eq!(batch.coordinators[1].node_id.0, 1);

    let a = join_new(&c, "g", SESSION).await;
    group::sync::handle(&c, sync_req("g", &a.member_id, 1, &[]), 5).await;
    group::offset_commit::handle(&c, commit_req("tools", "", -1, &[(0, 1, "")]), 8).await;
    let listed = group::list_groups::handle(&c, ListGroupsRequest::default(), 4)
        .await
        .0;
    let names: Vec<(String, String)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.group_state.to_string()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("g".into(), "Stable".into()),
            ("tools".into(), "Empty".into())
        ]
    );
    let mut only_empty = ListGroupsRequest::default();
    only_empty.states_filter = vec![sb("Empty")];
    assert_eq!(
        group::list_groups::handle(&c, only_empty, 4)
            .await
            .0
            .groups
            .len(),
        1
    );

    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(sb("g")), GroupId(sb("nope"))];
    let described = group::describe_groups::handle(&c, req, 5).await.0;
    assert_eq!(described.groups[0].protocol_data.as_str(), "roundrobin");
    assert_eq!(described.groups[0].members.len(), 1);
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");

    c.shutdown().await;
    let mut req = FindCoordinatorRequest::default();
    req.key = sb("g");
    assert_eq!(
        group::find_coordinator::handle(&c, req, 1, &node)
            .await
            .0
            .error_code,
        15
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_waiting_on_join_outlives_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_topics, c) = open(dir.path(), &config(dir.path()));
    let (a, b, generation) = two_member_group(&c, "g").await;
    group::sync::handle(&c, sync_req("g", &a, generation, &[]), 5).await;
    // B rejoins with a 60 s rebalance timeout and waits; A takes 25 s (more than B's 10 s
    // session) to rejoin, heartbeating meanwhile.
    let mut slow = join_req("g", &b, &["roundrobin", "range"], SESSION);
    slow.rebalance_timeout_ms = 60_000;
    let c2 = c.clone();
    let waiting = tokio::spawn(async move {
        group::join::handle(&c2, slow, 5, &ClientInfo::default())
            .await
            .0
    });
    while state_of(&c, "g").await.0 != "PreparingRebalance" {
        tokio::task::yield_now().await;
    }
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let hb = group::heartbeat::handle(&c, heartbeat_req("g", &a, generation), 4)
            .await
            .0;
        assert_eq!(hb.error_code, 27);
    }
    let a_join = group::join::handle(
        &c,
        join_req("g", &a, &["roundrobin"], SESSION),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    let b_join = waiting.await.unwrap();
    assert_eq!((a_join.error_code, b_join.error_code), (0, 0));
    assert_eq!(a_join.generation_id, generation + 1);
    assert_eq!(
        a_join.members.len(),
        2,
        "B was kept: it was waiting on JoinGroup"
    );
    c.shutdown().await;
}
