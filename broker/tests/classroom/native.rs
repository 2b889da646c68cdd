//! A classroom member on our native consumer (`minikafka_client::Consumer`).

use std::time::Duration;

use minikafka_client::{Consumer, ConsumerConfig, ConsumerEvent};
use tokio::sync::{mpsc, oneshot};

use super::member::{Event, Stopper, Target};

pub async fn start(target: &Target, name: &str, events: mpsc::UnboundedSender<Event>) -> Stopper {
    let mut config = ConsumerConfig::new(&target.bootstrap, &target.group);
    config.client.client_id = name.to_string();
    config.session_timeout = Duration::from_secs(6);
    config.heartbeat_interval = Duration::from_millis(500);
    config.rebalance_timeout = Duration::from_secs(10);
    config.auto_commit_interval = Duration::from_millis(200);
    config.fetch_max_wait = Duration::from_millis(100);
    config
        .set("partition.assignment.strategy", "roundrobin")
        .expect("roundrobin");
    let mut consumer = Consumer::new(config).await.expect("native consumer");
    consumer
        .subscribe(&[&target.topic])
        .await
        .expect("subscribe");
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let name = name.to_string();
    let task = tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = &mut stop_rx => break,
                event = consumer.recv() => event.unwrap_or_else(|e| panic!("{name}: {e}")),
            };
            let event = match event {
                ConsumerEvent::Assigned(tps) => {
                    Event::Assigned(tps.iter().map(|tp| tp.partition).collect())
                }
                ConsumerEvent::Revoked(_) => Event::Revoked,
                ConsumerEvent::Record(r) => Event::Record {
                    partition: r.partition,
                    offset: r.offset,
                    value: String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                        .into_owned(),
                },
            };
            let _ = events.send(event);
        }
        consumer.close().await.expect("close commits and leaves");
    });
    Box::new(move || {
        let _ = stop_tx.send(());
        task
    })
}
