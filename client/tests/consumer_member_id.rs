//! `Consumer::member_id`: the id the group coordinator gave the member, as the demo consumer
//! prints it at each rebalance. Checked against what the broker itself reports through
//! DescribeGroups, with two native members of one group on our broker at 127.0.0.1:0.
//! (The rdkafka backend returns `None`: the `rdkafka` crate does not expose the id.)

use std::collections::BTreeSet;

use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;
use minikafka_client::{Backend, Consumer};
use minikafka_testkit::cluster::{close_members, wait_for_shares};
use minikafka_testkit::wire::Client;
use minikafka_testkit::Cluster;

/// The member ids of `group`, as the coordinator describes it.
async fn described_members(cluster: &Cluster, group: &str) -> BTreeSet<String> {
    let mut client = Client::connect(cluster.broker().addr()).await;
    let mut describe = DescribeGroupsRequest::default();
    describe.groups = vec![GroupId(StrBytes::from_string(group.to_string()))];
    let resp: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &describe).await;
    assert_eq!(resp.groups[0].group_state.as_str(), "Stable", "{resp:?}");
    resp.groups[0]
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_id_is_the_one_the_coordinator_gave() {
    let cluster = Cluster::ours().await;
    let backend = Backend::Native;
    cluster.create_topic(backend, "ids", 2).await;

    let mut a = Consumer::new(cluster.member_config(backend, "g-ids"))
        .await
        .expect("consumer a");
    assert_eq!(a.member_id(), None, "no id before joining");
    a.subscribe(&["ids"]).await.expect("subscribe");
    wait_for_shares(&mut [&mut a], 2).await;
    let id_a = a.member_id().expect("an id once assigned");
    assert_eq!(
        described_members(&cluster, "g-ids").await,
        [id_a.clone()].into()
    );

    // A second member: both rebalance, each keeps its own id, and the coordinator knows
    // exactly these two.
    let mut b = Consumer::new(cluster.member_config(backend, "g-ids"))
        .await
        .expect("consumer b");
    b.subscribe(&["ids"]).await.expect("subscribe");
    wait_for_shares(&mut [&mut a, &mut b], 2).await;
    let id_b = b.member_id().expect("an id once assigned");
    assert_ne!(id_a, id_b);
    assert_eq!(
        a.member_id().as_deref(),
        Some(id_a.as_str()),
        "kept on rejoin"
    );
    assert_eq!(
        described_members(&cluster, "g-ids").await,
        [id_a, id_b].into()
    );

    close_members(vec![("a", &mut a), ("b", &mut b)]).await;
    cluster.shut_down().await;
}
