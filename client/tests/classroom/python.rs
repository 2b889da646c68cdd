//! A classroom member on kafka-python, the classroom's own client: the script
//! `broker/tests/python/kafka_python_member.py` in a subprocess, one JSON line per event,
//! told what to do ("commit", "stop") one line at a time on its stdin.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use minikafka_testkit::external::{python, python_script};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::member::{Controls, Event, Target};

/// `None` (after the kit reported the skip) when no Python with kafka-python is installed.
pub fn start(
    target: &Target,
    name: &str,
    events: mpsc::UnboundedSender<Event>,
) -> Option<Controls> {
    let python = python()?;
    let mut child = Command::new(python)
        .arg(python_script("kafka_python_member.py"))
        .args([&target.bootstrap, &target.group, &target.topic, name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start kafka-python member");
    let stdout = child.stdout.take().expect("stdout");
    let mut stdin = child.stdin.take().expect("stdin");
    // The script's input; it ends once every sender is gone, and closing stdin stops the
    // script too.
    let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<&'static str>();
    tokio::spawn(async move {
        while let Some(line) = lines_rx.recv().await {
            if stdin.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let name = name.to_string();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.expect("read member output") {
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{name} printed {line:?}: {e}"));
            let event = if let Some(parts) = v.get("assigned") {
                let parts = parts.as_array().expect("partition list");
                Event::Assigned(
                    parts
                        .iter()
                        .map(|p| p.as_i64().expect("partition") as i32)
                        .collect(),
                )
            } else if v.get("revoked").is_some() {
                Event::Revoked
            } else if v.get("committed").is_some() {
                Event::Committed
            } else if v.get("closed").is_some() {
                continue;
            } else {
                Event::Record {
                    partition: v["partition"].as_i64().expect("partition") as i32,
                    offset: v["offset"].as_i64().expect("offset"),
                    value: v["value"].as_str().expect("value").to_string(),
                }
            };
            let _ = events.send(event);
        }
    });
    let child = Arc::new(Mutex::new(Some(child)));
    let for_crash = child.clone();
    let take = |c: &Mutex<Option<Child>>| c.lock().unwrap_or_else(|p| p.into_inner()).take();
    let for_commit = lines_tx.clone();
    Some(Controls {
        stop: Box::new(move || {
            let _ = lines_tx.send("stop\n");
            drop(lines_tx);
            tokio::spawn(async move {
                let mut child = take(&child).expect("the member is running");
                let status = child.wait().await.expect("wait for kafka-python member");
                assert!(status.success(), "kafka-python member exited with {status}");
                reader.await.expect("member output reader");
            })
        }),
        // SIGKILL: no commit, no LeaveGroup.
        crash: Some(Box::new(move || {
            if let Some(mut child) = take(&for_crash) {
                let _ = child.start_kill();
            }
        })),
        commit: Box::new(move || {
            let _ = for_commit.send("commit\n");
        }),
    })
}
