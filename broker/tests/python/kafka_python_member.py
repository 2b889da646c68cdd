"""A kafka-python group member for the classroom experiments.

Usage: kafka_python_member.py BOOTSTRAP GROUP TOPIC [CLIENT_ID [INSTANCE_ID]]
Joins GROUP with the round-robin assignor and prints one JSON line per event:
  {"assigned": [partitions]}        after each rebalance
  {"partition": p, "offset": o, "key": k, "value": v}   per record
  {"committed": true}               after a commit asked for with a line "commit"
  {"closed": true}                  after a clean stop
  {"fenced": true}                  when another process took its INSTANCE_ID (it exits)
It learns TOPIC's partitions before it joins (see below why). It stops cleanly (commit,
leave the group) when its standard input is closed or receives a line "stop". With
INSTANCE_ID it is a static member (group_instance_id, KIP-345): it does not leave the
group on close, and its session timeout (10 s) decides when it is gone, so a restart with
the same INSTANCE_ID within it costs no rebalance.
"""
import json
import os
import sys
import threading
import time

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import FencedInstanceIdError
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

bootstrap, group, topic = sys.argv[1], sys.argv[2], sys.argv[3]
client_id = sys.argv[4] if len(sys.argv) > 4 else f"py-{group}"
instance_id = sys.argv[5] if len(sys.argv) > 5 else None
stop = threading.Event()
commit = threading.Event()


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "stop":
            break
        if line.strip() == "commit":
            commit.set()
    stop.set()


def emit(obj):
    print(json.dumps(obj), flush=True)


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit({"revoked": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned):
        emit({"assigned": sorted(tp.partition for tp in assigned)})


consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id=group,
    client_id=client_id,
    auto_offset_reset="earliest",
    enable_auto_commit=True,
    auto_commit_interval_ms=500,
    group_instance_id=instance_id,
    session_timeout_ms=10000 if instance_id else 6000,
    heartbeat_interval_ms=500,
    fetch_max_wait_ms=100,
    partition_assignment_strategy=[RoundRobinPartitionAssignor],
)
consumer.subscribe([topic], listener=Listener())
threading.Thread(target=watch_stdin, daemon=True).start()
# Know the topic's partitions before the first poll joins the group. kafka-python 3.0.12
# strands a leader that joined without them: its first assignment is empty, the metadata
# that arrives next makes it rejoin, and if that JoinGroup outlasts a poll (it waits for
# the other members to rejoin) the assignment it then makes clears need_rejoin(), so no
# later poll collects the finished join: no assignment, heartbeats stay off, and the
# session timeout removes it. (Java's client keeps polling while a join is pending:
# rejoinNeededOrPending().)
while not stop.is_set() and not consumer.partitions_for_topic(topic):
    time.sleep(0.1)
try:
    while not stop.is_set():
        # kafka-python's consumer is not thread-safe: the commit is made here, between polls.
        if commit.is_set():
            commit.clear()
            consumer.commit()
            emit({"committed": True})
        for tp, records in consumer.poll(timeout_ms=100).items():
            for r in records:
                emit({"partition": r.partition, "offset": r.offset,
                      "key": r.key.decode() if r.key is not None else None,
                      "value": r.value.decode(errors="replace")})
except FencedInstanceIdError:
    # Another process joined with our group_instance_id: we are replaced, and done.
    emit({"fenced": True})
    os._exit(0)
consumer.commit()
consumer.close()
emit({"closed": True})
