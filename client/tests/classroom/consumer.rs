//! A classroom member on our consumer (`minikafka_client::Consumer`, either backend), on a
//! tokio runtime of its own, so a test can crash it: shutting that runtime down drops every
//! task and socket at once, with no commit and no LeaveGroup, as a killed process would.
//! librdkafka closes (commit, LeaveGroup) whenever it is dropped, so only the native
//! backend can be crashed.

use std::sync::{Arc, Mutex};

use minikafka_client::{Backend, Consumer, ConsumerEvent};
use minikafka_testkit::cluster::close_members;
use minikafka_testkit::member_config;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use super::member::{Controls, Event, Target};

/// What the test asks of the member's task.
enum Command {
    Commit,
    Stop,
}

pub async fn start(
    backend: Backend,
    target: &Target,
    name: &str,
    events: mpsc::UnboundedSender<Event>,
) -> Controls {
    let mut config = member_config(&target.bootstrap, backend, &target.group);
    config.client.client_id = name.to_string();
    config
        .set("partition.assignment.strategy", "roundrobin")
        .expect("roundrobin");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("member runtime");
    let (commands, mut command) = mpsc::unbounded_channel::<Command>();
    let topic = target.topic.clone();
    let name = name.to_string();
    let task = runtime.spawn(async move {
        let mut consumer = Consumer::new(config).await.expect("consumer");
        consumer.subscribe(&[&topic]).await.expect("subscribe");
        loop {
            let event = tokio::select! {
                c = command.recv() => match c {
                    Some(Command::Commit) => {
                        consumer.commit().await.unwrap_or_else(|e| panic!("{name}: commit: {e}"));
                        Event::Committed
                    }
                    Some(Command::Stop) | None => break,
                },
                event = consumer.recv() => match event.unwrap_or_else(|e| panic!("{name}: {e}")) {
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
                },
            };
            let _ = events.send(event);
        }
        // Commits and leaves; a commit that meets the rebalance an earlier member's leave
        // started is reported and tolerated, as for any group's last members.
        close_members(vec![(&name, &mut consumer)]).await;
    });
    let runtime = Arc::new(Mutex::new(MemberRuntime(Some(runtime))));
    let for_crash = runtime.clone();
    let shut_down =
        |rt: &Mutex<MemberRuntime>| rt.lock().unwrap_or_else(|p| p.into_inner()).shut_down();
    let for_commit = commands.clone();
    Controls {
        stop: Box::new(move || {
            let _ = commands.send(Command::Stop);
            tokio::spawn(async move {
                task.await.expect("member task");
                shut_down(&runtime);
            })
        }),
        crash: (backend == Backend::Native)
            .then(|| Box::new(move || shut_down(&for_crash)) as Box<dyn FnOnce() + Send>),
        commit: Box::new(move || {
            let _ = for_commit.send(Command::Commit);
        }),
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
