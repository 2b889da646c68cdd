//! A classroom member on our native consumer (`minikafka_client::Consumer`), on a tokio
//! runtime of its own, so a test can crash it: shutting that runtime down drops every task
//! and socket at once, with no commit and no LeaveGroup, as a killed process would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use minikafka_client::{Consumer, ConsumerConfig, ConsumerEvent};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::member::{Controls, Event, Target};

pub async fn start(target: &Target, name: &str, events: mpsc::UnboundedSender<Event>) -> Controls {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("member runtime");
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let topic = target.topic.clone();
    let name = name.to_string();
    let task = runtime.spawn(async move {
        let mut consumer = Consumer::new(config).await.expect("native consumer");
        consumer.subscribe(&[&topic]).await.expect("subscribe");
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
    let runtime = Arc::new(Mutex::new(MemberRuntime(Some(runtime))));
    let for_crash = runtime.clone();
    let shut_down =
        |rt: &Mutex<MemberRuntime>| rt.lock().unwrap_or_else(|p| p.into_inner()).shut_down();
    Controls {
        stopper: Box::new(move || {
            let _ = stop_tx.send(());
            tokio::spawn(async move {
                task.await.expect("native member");
                shut_down(&runtime);
            })
        }),
        crasher: Some(Box::new(move || shut_down(&for_crash))),
    }
}

/// The member's runtime. Dropping a runtime inside another one's task panics, so it is
/// always shut down in the background instead, also when a failing test drops it.
struct MemberRuntime(Option<Runtime>);

impl MemberRuntime {
    fn shut_down(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for MemberRuntime {
    fn drop(&mut self) {
        self.shut_down();
    }
}
