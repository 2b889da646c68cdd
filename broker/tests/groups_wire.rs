//! Consumer groups over the wire: a real broker on 127.0.0.1:0, raw frames encoded by the
//! kafka-protocol crate, two members on two connections, offsets across a broker restart.

use std::time::Duration;

use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::protocol::api_versions;
use minikafka_testkit::groups::{
    assignment, commit_errors, commit_req, fetch_req, fetched, heartbeat_req, join_req, sync_req,
    TOPIC,
};
use minikafka_testkit::wire::Client;
use minikafka_testkit::{TestBroker, WAIT};

const SESSION: Duration = Duration::from_secs(10);

fn sb(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn join(c: &mut Client, member: &str) -> JoinGroupResponse {
    c.call(
        ApiKey::JoinGroup,
        5,
        &join_req("wire", member, &["roundrobin", "range"], SESSION),
    )
    .await
}

#[tokio::test]
async fn two_members_join_sync_commit_and_resume_after_restart() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut a = Client::connect(broker.addr()).await;
    let mut b = Client::connect(broker.addr()).await;
    a.create_topic(TOPIC, 3).await;

    // ApiVersions advertises exactly the ranges the broker dispatches, group APIs included.
    let versions: ApiVersionsResponse = a
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    for (key, min, max) in api_versions::supported() {
        let found = versions.api_keys.iter().find(|k| k.api_key == key);
        let found = found.unwrap_or_else(|| panic!("api {key} advertised"));
        assert_eq!((found.min_version, found.max_version), (min, max));
    }

    let mut find = FindCoordinatorRequest::default();
    find.key = sb("wire");
    let coordinator: FindCoordinatorResponse = a.call(ApiKey::FindCoordinator, 3, &find).await;
    assert_eq!(coordinator.error_code, 0);
    assert_eq!(coordinator.port, i32::from(broker.addr().port()));
    let mut find = FindCoordinatorRequest::default();
    find.coordinator_keys = vec![sb("wire")];
    let batch: FindCoordinatorResponse = a.call(ApiKey::FindCoordinator, 4, &find).await;
    assert_eq!(batch.coordinators[0].port, i32::from(broker.addr().port()));

    // A joins alone: MEMBER_ID_REQUIRED, then generation 1.
    let first = join(&mut a, "").await;
    assert_eq!(first.error_code, 79);
    let a_id = first.member_id.to_string();
    let a1 = join(&mut a, &a_id).await;
    assert_eq!((a1.error_code, a1.generation_id), (0, 1));
    let s: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(
                "wire",
                &a_id,
                1,
                &[(&a_id, assignment(&[(TOPIC, &[0, 1, 2])]))],
            ),
        )
        .await;
    assert_eq!(s.error_code, 0);

    // B joins on its own connection; its answer comes once A has rejoined.
    let first = join(&mut b, "").await;
    let b_id = first.member_id.to_string();
    let b_join = {
        let b_id = b_id.clone();
        tokio::spawn(async move {
            let resp = join(&mut b, &b_id).await;
            (b, resp)
        })
    };
    let mut told = false;
    for _ in 0..100 {
        let hb: HeartbeatResponse = a
            .call(ApiKey::Heartbeat, 4, &heartbeat_req("wire", &a_id, 1))
            .await;
        if hb.error_code == 27 {
            told = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(told, "A learns of the rebalance from its heartbeat");
    let a2 = join(&mut a, &a_id).await;
    let (mut b, b2) = tokio::time::timeout(WAIT, b_join).await.unwrap().unwrap();
    assert_eq!((a2.generation_id, b2.generation_id), (2, 2));
    assert_eq!(a2.members.len(), 2);
    assert_eq!(a2.protocol_name.as_deref(), Some("roundrobin"));

    let a_share = assignment(&[(TOPIC, &[0, 2])]);
    let b_share = assignment(&[(TOPIC, &[1])]);
    let sa: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(
                "wire",
                &a_id,
                2,
                &[(&a_id, a_share.clone()), (&b_id, b_share.clone())],
            ),
        )
        .await;
    let sb_: SyncGroupResponse = b
        .call(ApiKey::SyncGroup, 3, &sync_req("wire", &b_id, 2, &[]))
        .await;
    assert_eq!((sa.assignment, sb_.assignment), (a_share, b_share));

    let mut describe = DescribeGroupsRequest::default();
    describe.groups = vec![GroupId(sb("wire"))];
    let described: DescribeGroupsResponse = a.call(ApiKey::DescribeGroups, 5, &describe).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members.len(), 2);

    let ok: OffsetCommitResponse = a
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_req("wire", &a_id, 2, &[(0, 3, "a"), (2, 4, "")]),
        )
        .await;
    assert_eq!(commit_errors(&ok), vec![(0, 0), (2, 0)]);
    let ok: OffsetCommitResponse = b
        .call(
            ApiKey::OffsetCommit,
            2,
            &commit_req("wire", &b_id, 2, &[(1, 7, "b")]),
        )
        .await;
    assert_eq!(commit_errors(&ok), vec![(1, 0)]);
    let stale: OffsetCommitResponse = b
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_req("wire", &b_id, 1, &[(1, 100, "")]),
        )
        .await;
    assert_eq!(commit_errors(&stale), vec![(1, 22)]);

    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(sb("wire"));
    let mut who = MemberIdentity::default();
    who.member_id = sb(&b_id);
    leave.members = vec![who];
    let left: LeaveGroupResponse = b.call(ApiKey::LeaveGroup, 4, &leave).await;
    assert_eq!(left.members[0].error_code, 0);
    let listed: ListGroupsResponse = a
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(listed.groups[0].group_id.0.as_str(), "wire");
    assert_eq!(listed.groups[0].group_state.as_str(), "PreparingRebalance");

    // Restart on the same data dir: the commits are replayed from __consumer_offsets.
    let dir = broker.stop().await;
    let broker = TestBroker::builder()
        .data_dir(dir)
        .start()
        .await
        .expect("broker starts");
    let mut c = Client::connect(broker.addr()).await;
    let resp: OffsetFetchResponse = c
        .call(ApiKey::OffsetFetch, 7, &fetch_req("wire", None))
        .await;
    let got = fetched(&resp);
    let want = [(0, (3, "a")), (1, (7, "b")), (2, (4, ""))];
    assert_eq!(got.len(), 3);
    for (p, (offset, meta)) in want {
        assert_eq!(got[&(TOPIC.to_string(), p)], (offset, meta.to_string()));
    }
    let mut multi = OffsetFetchRequest::default();
    let mut g = OffsetFetchRequestGroup::default();
    g.group_id = GroupId(sb("wire"));
    g.topics = None; // null: every committed partition
    multi.groups = vec![g];
    let resp: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 8, &multi).await;
    assert_eq!(resp.groups[0].topics[0].partitions.len(), 3);
    // The old generation is gone with the restart: the member must join again.
    let old: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_req("wire", &a_id, 2, &[(0, 9, "")]),
        )
        .await;
    assert_eq!(commit_errors(&old), vec![(0, 25)]);
    broker.stop().await;
}
