"""kafka-python transactions against minikafka, with a live group (broker/tests/transactions_python.rs).

The consume-transform-produce loop of confluent_kafka_transactions.py, but the consumer
*subscribes*, so it is a member of the group (Stable) while the transactional producer
commits the group's offsets. kafka-python's send_offsets_to_transaction takes the bare
group id (TxnOffsetCommit without member id or generation, as aiokafka sends too) or
the consumer's group metadata (with them, KIP-447): the transactions alternate between
the two. Kafka takes both while the group has members. The first transaction is
aborted on purpose and redone.

Prints JSON lines: {"committed_values": [...]}, {"uncommitted_count": n},
{"group_offset": n}, {"bare_group_id_commits": n}, {"metadata_commits": n}.
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

bootstrap, src, dst, group, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

plain = KafkaProducer(bootstrap_servers=bootstrap)
for i in range(n):
    plain.send(src, value=str(i).encode(), partition=0)
plain.flush(30)
plain.close()

consumer = KafkaConsumer(
    src,
    bootstrap_servers=bootstrap,
    group_id=group,
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    isolation_level="read_committed",
)
txn = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="kp-ctp-1")
txn.init_transactions()
tp = TopicPartition(src, 0)

done = 0
aborted_once = False
bare = with_metadata = 0
deadline = time.time() + 60
while done < n and time.time() < deadline:
    polled = consumer.poll(timeout_ms=1000, max_records=5)
    msgs = polled.get(tp, [])
    if not msgs:
        continue
    txn.begin_transaction()
    for m in msgs:
        txn.send(dst, value=str(int(m.value) * 10).encode(), partition=0)
    if not aborted_once:
        aborted_once = True
        txn.flush()
        txn.abort_transaction()
        # Go back: the aborted batch is redone.
        consumer.seek(tp, msgs[0].offset)
        continue
    offsets = {tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1)}
    if (bare + with_metadata) % 2 == 0:
        txn.send_offsets_to_transaction(offsets, group)
        bare += 1
    else:
        txn.send_offsets_to_transaction(offsets, consumer.group_metadata())
        with_metadata += 1
    txn.commit_transaction()
    done = msgs[-1].offset + 1
consumer.close()
txn.close()


def read(isolation, expect):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level=isolation,
        auto_offset_reset="earliest",
    )
    c.assign([TopicPartition(dst, 0)])
    c.seek_to_beginning()
    values = []
    quiet = time.time()
    end = time.time() + 30
    while time.time() < end:
        batch = c.poll(timeout_ms=200)
        got = [m for ms in batch.values() for m in ms]
        if not got:
            if len(values) >= expect and time.time() - quiet > 1.0:
                break
            continue
        values.extend(int(m.value) for m in got)
        quiet = time.time()
    c.close()
    return values


print(json.dumps({"committed_values": read("read_committed", n)}))
print(json.dumps({"uncommitted_count": len(read("read_uncommitted", n + 1))}))
check = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
print(json.dumps({"group_offset": check.committed(tp)}))
check.close()
print(json.dumps({"bare_group_id_commits": bare}))
print(json.dumps({"metadata_commits": with_metadata}))
