//! A classroom member on librdkafka (the rdkafka crate's bundled build), in a thread of its
//! own: a `BaseConsumer` polled every 100 ms, its rebalance callbacks turned into events.
//! Dropping the consumer closes it the way librdkafka does: revoke, commit, LeaveGroup.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio::sync::mpsc;

use super::member::{Controls, Event, Target};

struct Events(mpsc::UnboundedSender<Event>);

impl ClientContext for Events {}

impl ConsumerContext for Events {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let event = match rebalance {
            Rebalance::Assign(tpl) => {
                Event::Assigned(tpl.elements().iter().map(|e| e.partition()).collect())
            }
            Rebalance::Revoke(_) => Event::Revoked,
            Rebalance::Error(e) => panic!("librdkafka rebalance error: {e}"),
        };
        let _ = self.0.send(event);
    }
}

pub fn start(target: &Target, name: &str, events: mpsc::UnboundedSender<Event>) -> Controls {
    let consumer: BaseConsumer<Events> = ClientConfig::new()
        .set("bootstrap.servers", &target.bootstrap)
        .set("group.id", &target.group)
        .set("client.id", name)
        .set("partition.assignment.strategy", "roundrobin")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "200")
        .set("fetch.wait.max.ms", "100")
        .create_with_context(Events(events.clone()))
        .expect("rdkafka consumer");
    consumer.subscribe(&[&target.topic]).expect("subscribe");
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let name = name.to_string();
    let thread = std::thread::spawn(move || {
        while !stopping.load(Ordering::SeqCst) {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap_or_else(|e| panic!("{name}: {e}"));
            let _ = events.send(Event::Record {
                partition: message.partition(),
                offset: message.offset(),
                value: String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
            });
        }
        // Drop closes: the final revoke commits the stored offsets, then LeaveGroup.
        drop(consumer);
    });
    Controls {
        stopper: Box::new(move || {
            stop.store(true, Ordering::SeqCst);
            tokio::task::spawn_blocking(move || thread.join().expect("rdkafka member thread"))
        }),
        // librdkafka always closes (commit, LeaveGroup) when dropped.
        crasher: None,
    }
}
