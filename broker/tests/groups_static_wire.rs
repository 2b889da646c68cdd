//! Static membership (KIP-345) and the group APIs' newer versions over the wire: a real
//! broker on 127.0.0.1:0, raw frames encoded by the kafka-protocol crate, one connection
//! per member process.
//!
//! What is checked, as Kafka's classic group coordinator answers:
//! - a static member that comes back without a member id takes its old place: new member
//!   id, same generation, same assignment, no rebalance for the others;
//! - the replaced member id is fenced (FENCED_INSTANCE_ID) in JoinGroup, SyncGroup,
//!   Heartbeat, OffsetCommit and LeaveGroup;
//! - a static leader coming back is named leader with `skip_assignment` from JoinGroup v9
//!   on, and is told the old leader id before;
//! - LeaveGroup by instance id; an unknown instance id is UNKNOWN_MEMBER_ID;
//! - a static member that does not rejoin stays through a rebalance until its session ends;
//! - the leader's JoinGroup in a Stable group starts a rebalance even with unchanged
//!   metadata (so it can reassign after a topic change), and waits for the other members;
//! - OffsetCommit v9's GROUP_ID_NOT_FOUND, ListGroups v5's type filter, FindCoordinator v6.

use std::time::Duration;

use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest,
    HeartbeatResponse, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitResponse, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::snapshot::GroupView;
use minikafka_testkit::groups::{
    assignment, commit_errors, commit_req, heartbeat_req, join_req, sync_req, TOPIC,
};
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE_IN_PROGRESS: i16 = 27;
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn sb(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// JoinGroup of a static member (`instance`), at `version` (5+), with a reason from v8.
async fn join_static(
    c: &mut Client,
    group: &str,
    member: &str,
    instance: &str,
    version: i16,
) -> JoinGroupResponse {
    let mut req = join_req(group, member, &["roundrobin"], SESSION)
        .with_group_instance_id(Some(sb(instance)));
    if version >= 8 {
        req.reason = Some(sb("the test restarts this member"));
    }
    c.call(ApiKey::JoinGroup, version, &req).await
}

fn heartbeat(
    group: &str,
    member: &str,
    generation: i32,
    instance: Option<&str>,
) -> HeartbeatRequest {
    heartbeat_req(group, member, generation).with_group_instance_id(instance.map(sb))
}

fn group_view(broker: &TestBroker, group: &str) -> GroupView {
    let snapshot = broker.handle().expect("the broker runs").snapshot();
    snapshot
        .groups
        .into_iter()
        .find(|g| g.group_id == group)
        .expect("the group is listed")
}

/// Two static members "a" (the leader) and "b", Stable at generation 2 with
/// a = [0, 2] and b = [1]. Returns their connections and member ids.
async fn two_static_members(
    broker: &TestBroker,
    group: &str,
) -> ((Client, String), (Client, String)) {
    let mut a = Client::connect(broker.addr()).await;
    let mut b = Client::connect(broker.addr()).await;
    a.create_topic(TOPIC, 3).await;

    // A static member needs no MEMBER_ID_REQUIRED round: its instance id names it.
    let a1 = join_static(&mut a, group, "", "a", 5).await;
    assert_eq!((a1.error_code, a1.generation_id), (0, 1));
    let a_id = a1.member_id.to_string();
    assert!(!a_id.is_empty());
    let s: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(
                group,
                &a_id,
                1,
                &[(&a_id, assignment(&[(TOPIC, &[0, 1, 2])]))],
            ),
        )
        .await;
    assert_eq!(s.error_code, 0);

    let group_id = group.to_string();
    let b_join = tokio::spawn(async move {
        let resp = join_static(&mut b, &group_id, "", "b", 5).await;
        (b, resp)
    });
    let mut told = false;
    for _ in 0..200 {
        let hb: HeartbeatResponse = a
            .call(ApiKey::Heartbeat, 4, &heartbeat(group, &a_id, 1, Some("a")))
            .await;
        if hb.error_code == REBALANCE_IN_PROGRESS {
            told = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(told, "A learns of the rebalance from its heartbeat");
    let a2 = join_static(&mut a, group, &a_id, "a", 5).await;
    let (mut b, b2) = tokio::time::timeout(minikafka_testkit::WAIT, b_join)
        .await
        .expect("B's join is answered")
        .expect("B's task");
    assert_eq!((a2.generation_id, b2.generation_id), (2, 2));
    assert_eq!(a2.leader, a2.member_id, "A still leads");
    let b_id = b2.member_id.to_string();
    let members: Vec<(String, Option<String>)> = a2
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
            )
        })
        .collect();
    assert_eq!(
        members,
        vec![
            (a_id.clone(), Some("a".to_string())),
            (b_id.clone(), Some("b".to_string()))
        ],
        "the leader sees each member's instance id"
    );
    let sa: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(
                group,
                &a_id,
                2,
                &[
                    (&a_id, assignment(&[(TOPIC, &[0, 2])])),
                    (&b_id, assignment(&[(TOPIC, &[1])])),
                ],
            ),
        )
        .await;
    let sb_: SyncGroupResponse = b
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(group, &b_id, 2, &[]).with_group_instance_id(Some(sb("b"))),
        )
        .await;
    assert_eq!((sa.error_code, sb_.error_code), (0, 0));
    assert_eq!(sb_.assignment, assignment(&[(TOPIC, &[1])]));
    ((a, a_id), (b, b_id))
}

#[tokio::test]
async fn a_static_member_comes_back_to_its_partitions_and_the_old_id_is_fenced() {
    let broker = TestBroker::start().await.expect("broker starts");
    let ((mut a, a_id), (_old_b, old_b)) = two_static_members(&broker, "static").await;
    assert_eq!(group_view(&broker, "static").generation, 2);

    // B's process restarts (it sent no LeaveGroup): a new connection, no member id, the
    // same instance id. It is answered at once, in the same generation, as a follower.
    let mut b = Client::connect(broker.addr()).await;
    let back = join_static(&mut b, "static", "", "b", 8).await;
    assert_eq!(back.error_code, 0);
    assert_eq!(back.generation_id, 2, "no new generation");
    assert_ne!(back.member_id.as_str(), old_b, "a new member id");
    assert_eq!(back.leader.as_str(), a_id, "A still leads");
    assert!(back.members.is_empty());
    let new_b = back.member_id.to_string();
    let s: SyncGroupResponse = b
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req("static", &new_b, 2, &[]).with_group_instance_id(Some(sb("b"))),
        )
        .await;
    assert_eq!(s.error_code, 0);
    assert_eq!(
        s.assignment,
        assignment(&[(TOPIC, &[1])]),
        "B's old partitions"
    );
    // A goes on undisturbed: no rebalance.
    let hb: HeartbeatResponse = a
        .call(
            ApiKey::Heartbeat,
            4,
            &heartbeat("static", &a_id, 2, Some("a")),
        )
        .await;
    assert_eq!(hb.error_code, 0);
    let view = group_view(&broker, "static");
    assert_eq!((view.state.as_str(), view.generation), ("Stable", 2));
    let ids: Vec<&str> = view.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, vec![a_id.as_str(), new_b.as_str()]);

    // The old member id is fenced wherever it shows up with its instance id, and unknown
    // without it.
    let mut old = Client::connect(broker.addr()).await;
    let hb: HeartbeatResponse = old
        .call(
            ApiKey::Heartbeat,
            4,
            &heartbeat("static", &old_b, 2, Some("b")),
        )
        .await;
    assert_eq!(hb.error_code, FENCED_INSTANCE_ID);
    let hb: HeartbeatResponse = old
        .call(ApiKey::Heartbeat, 2, &heartbeat("static", &old_b, 2, None))
        .await;
    assert_eq!(hb.error_code, UNKNOWN_MEMBER_ID);
    let s: SyncGroupResponse = old
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req("static", &old_b, 2, &[]).with_group_instance_id(Some(sb("b"))),
        )
        .await;
    assert_eq!(s.error_code, FENCED_INSTANCE_ID);
    let commit =
        commit_req("static", &old_b, 2, &[(1, 5, "")]).with_group_instance_id(Some(sb("b")));
    let c: OffsetCommitResponse = old.call(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(commit_errors(&c), vec![(1, FENCED_INSTANCE_ID)]);
    let j = join_static(&mut old, "static", &old_b, "b", 5).await;
    assert_eq!(j.error_code, FENCED_INSTANCE_ID);
    // The new one commits.
    let commit =
        commit_req("static", &new_b, 2, &[(1, 5, "")]).with_group_instance_id(Some(sb("b")));
    let c: OffsetCommitResponse = b.call(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(commit_errors(&c), vec![(1, 0)]);

    // The leader comes back too. Before v9 it is told the old leader id, so it acts as a
    // follower and fetches its assignment.
    let back = join_static(&mut a, "static", "", "a", 7).await;
    assert_eq!((back.error_code, back.generation_id), (0, 2));
    assert_eq!(back.leader.as_str(), a_id, "the old leader id");
    assert!(back.members.is_empty());
    let a_id2 = back.member_id.to_string();
    // From v9 it is told it leads, with the members, and to skip the assignment.
    let back = join_static(&mut a, "static", "", "a", 9).await;
    assert_eq!((back.error_code, back.generation_id), (0, 2));
    let a_id3 = back.member_id.to_string();
    assert_ne!(a_id3, a_id2);
    assert_eq!(back.leader.as_str(), a_id3, "it leads");
    assert!(back.skip_assignment);
    assert_eq!(back.members.len(), 2);
    let s: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req("static", &a_id3, 2, &[]).with_group_instance_id(Some(sb("a"))),
        )
        .await;
    assert_eq!(s.assignment, assignment(&[(TOPIC, &[0, 2])]));
    assert_eq!(
        group_view(&broker, "static").generation,
        2,
        "still no rebalance"
    );

    // LeaveGroup: the replaced id is fenced, an unknown instance is unknown, and an
    // operator removes a static member by its instance id alone.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(sb("static"));
    let identity = |member: &str, instance: &str| {
        let mut m = MemberIdentity::default();
        m.member_id = sb(member);
        m.group_instance_id = Some(sb(instance));
        m.reason = Some(sb("the test says so"));
        m
    };
    leave.members = vec![identity(&old_b, "b"), identity("", "nobody")];
    let left: LeaveGroupResponse = old.call(ApiKey::LeaveGroup, 5, &leave).await;
    assert_eq!(left.error_code, 0);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID]);
    assert_eq!(group_view(&broker, "static").members.len(), 2);
    leave.members = vec![identity("", "b")];
    let left: LeaveGroupResponse = old.call(ApiKey::LeaveGroup, 4, &leave).await;
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(left.members[0].group_instance_id.as_deref(), Some("b"));
    let view = group_view(&broker, "static");
    assert_eq!(view.members.len(), 1);
    assert_eq!(view.state, "PreparingRebalance", "a leave rebalances");
    let hb: HeartbeatResponse = b
        .call(
            ApiKey::Heartbeat,
            4,
            &heartbeat("static", &new_b, 2, Some("b")),
        )
        .await;
    assert_eq!(hb.error_code, UNKNOWN_MEMBER_ID, "B is gone");
    broker.stop().await;
}

#[tokio::test]
async fn a_static_member_that_does_not_rejoin_stays_until_its_session_ends() {
    let broker = TestBroker::builder()
        .config(|c| c.group_min_session_timeout = Duration::from_millis(500))
        .start()
        .await
        .expect("broker starts");
    let mut a = Client::connect(broker.addr()).await;
    let mut b = Client::connect(broker.addr()).await;
    a.create_topic(TOPIC, 3).await;
    // B: static, 3 s session, rebalance timeout 1 s; it joins first and leads.
    let mut req = join_req("away", "", &["roundrobin"], Duration::from_secs(3))
        .with_group_instance_id(Some(sb("b")));
    req.rebalance_timeout_ms = 1000;
    let b1: JoinGroupResponse = b.call(ApiKey::JoinGroup, 5, &req).await;
    assert_eq!((b1.error_code, b1.generation_id), (0, 1));
    let b_id = b1.member_id.to_string();
    let _: SyncGroupResponse = b
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(
                "away",
                &b_id,
                1,
                &[(&b_id, assignment(&[(TOPIC, &[0, 1, 2])]))],
            ),
        )
        .await;
    // B goes silent. A dynamic member joins: the rebalance waits for B for the rebalance
    // timeout, then completes without it, but B stays a member.
    let mut req = join_req("away", "", &["roundrobin"], Duration::from_secs(30));
    req.rebalance_timeout_ms = 1000;
    let first: JoinGroupResponse = a.call(ApiKey::JoinGroup, 5, &req).await;
    let a_id = first.member_id.to_string();
    let a2: JoinGroupResponse = a
        .call(ApiKey::JoinGroup, 5, &req.clone().with_member_id(sb(&a_id)))
        .await;
    assert_eq!((a2.error_code, a2.generation_id), (0, 2));
    assert_eq!(
        a2.leader.as_str(),
        a_id,
        "the leader must be a member that rejoined"
    );
    assert_eq!(
        a2.members.len(),
        2,
        "B, static, is still a member to assign to"
    );
    let view = group_view(&broker, "away");
    assert_eq!(view.members.len(), 2);
    // A keeps heartbeating; B's session (3 s since its last sign of life) ends: it is
    // removed, and the group rebalances.
    let _: SyncGroupResponse = a
        .call(ApiKey::SyncGroup, 5, &sync_req("away", &a_id, 2, &[]))
        .await;
    let mut removed = false;
    for _ in 0..100 {
        let _: HeartbeatResponse = a
            .call(ApiKey::Heartbeat, 4, &heartbeat("away", &a_id, 2, None))
            .await;
        if group_view(&broker, "away").members.len() == 1 {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(removed, "B's session timeout removes it");
    let hb: HeartbeatResponse = a
        .call(ApiKey::Heartbeat, 4, &heartbeat("away", &a_id, 2, None))
        .await;
    assert_eq!(hb.error_code, REBALANCE_IN_PROGRESS);
    broker.stop().await;
}

/// Kafka's `doCurrentMemberJoinGroup`: the leader rejoining a Stable group with the same
/// metadata starts a rebalance (a consumer leader does this when the topic's metadata
/// changes, e.g. the partitions it did not know at its first assignment). Its JoinGroup is
/// answered only once the other member, told by its heartbeat, has rejoined too: a client
/// must keep driving a join that outlasts its poll (kafka-python 3.0.12 does not, see the
/// member script in tests/python).
#[tokio::test]
async fn the_leader_rejoining_a_stable_group_waits_for_the_others_to_rejoin() {
    let broker = TestBroker::start().await.expect("broker starts");
    let group = "leader-rejoins";
    let ((mut a, a_id), (mut b, b_id)) = two_static_members(&broker, group).await;

    let leader = a_id.clone();
    let a_join = tokio::spawn(async move {
        let resp = join_static(&mut a, group, &leader, "a", 5).await;
        (a, resp)
    });
    let mut told = false;
    for _ in 0..200 {
        let hb: HeartbeatResponse = b
            .call(ApiKey::Heartbeat, 4, &heartbeat(group, &b_id, 2, Some("b")))
            .await;
        if hb.error_code == REBALANCE_IN_PROGRESS {
            told = true;
            break;
        }
        assert_eq!(hb.error_code, 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(told, "B learns of the rebalance from its heartbeat");
    let view = group_view(&broker, group);
    assert_eq!(
        (view.state.as_str(), view.generation),
        ("PreparingRebalance", 2)
    );
    assert!(!a_join.is_finished(), "the leader's JoinGroup waits for B");

    let b3 = join_static(&mut b, group, &b_id, "b", 5).await;
    let (_a, a3) = tokio::time::timeout(minikafka_testkit::WAIT, a_join)
        .await
        .expect("the leader's JoinGroup is answered once B rejoined")
        .expect("A's task");
    assert_eq!((a3.error_code, b3.error_code), (0, 0));
    assert_eq!((a3.generation_id, b3.generation_id), (3, 3));
    assert_eq!(a3.leader.as_str(), a_id, "A still leads");
    assert_eq!(b3.leader.as_str(), a_id);
    assert_eq!(
        a3.members.len(),
        2,
        "the leader gets both members to assign"
    );
    assert!(b3.members.is_empty(), "a follower gets no member list");
    let view = group_view(&broker, group);
    assert_eq!(
        (view.state.as_str(), view.generation),
        ("CompletingRebalance", 3)
    );
    broker.stop().await;
}

#[tokio::test]
async fn newer_group_api_versions() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic(TOPIC, 3).await;

    // OffsetCommit for a generation of a group that does not exist: v8 says
    // ILLEGAL_GENERATION, v9 names the problem.
    let commit = commit_req("nosuch", "m", 3, &[(0, 1, "")]);
    let v8: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(commit_errors(&v8), vec![(0, ILLEGAL_GENERATION)]);
    let v9: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 9, &commit).await;
    assert_eq!(commit_errors(&v9), vec![(0, GROUP_ID_NOT_FOUND)]);
    // A simple commit (generation -1) creates the group, at v9 as before.
    let simple = commit_req("simple", "", -1, &[(0, 1, "")]);
    let v9: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 9, &simple).await;
    assert_eq!(commit_errors(&v9), vec![(0, 0)]);

    // ListGroups v5 filters by type: every group here is classic.
    let mut list = ListGroupsRequest::default();
    list.types_filter = vec![sb("Classic")];
    let listed: ListGroupsResponse = c.call(ApiKey::ListGroups, 5, &list).await;
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_type.as_str(), "classic");
    list.types_filter = vec![sb("consumer")];
    let listed: ListGroupsResponse = c.call(ApiKey::ListGroups, 5, &list).await;
    assert!(listed.groups.is_empty());

    // FindCoordinator: a share group's key (type 2) is an invalid request before v6, and
    // has no coordinator here from v6 (as in Kafka 3.9); groups are found at v6.
    let mut find = FindCoordinatorRequest::default();
    find.key_type = 2;
    find.coordinator_keys = vec![sb("share")];
    let v5: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, 5, &find).await;
    assert_eq!(v5.coordinators[0].error_code, 42, "INVALID_REQUEST");
    let v6: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, 6, &find).await;
    assert_eq!(
        v6.coordinators[0].error_code, 15,
        "COORDINATOR_NOT_AVAILABLE"
    );
    find.key_type = 0;
    let v6: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, 6, &find).await;
    assert_eq!(v6.coordinators[0].error_code, 0);
    assert_eq!(v6.coordinators[0].port, i32::from(broker.addr().port()));
    broker.stop().await;
}
