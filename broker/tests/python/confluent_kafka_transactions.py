"""confluent-kafka transactions against minikafka (broker/tests/transactions_python.rs).

1. A plain producer writes N numbered records to the input topic.
2. A consume-transform-produce loop: a group consumer reads them (read_committed, no
   auto-commit); a transactional producer writes value*10 to the output topic and sends
   the consumer's offsets in the same transaction. The first transaction is aborted
   on purpose after writing, and redone; the rest commit.
3. A read_committed consumer and a read_uncommitted one read the output.

Prints JSON lines: {"committed_values": [...]}, {"uncommitted_count": n},
{"group_offset": n}.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, src, dst, group, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

plain = Producer({"bootstrap.servers": bootstrap})
for i in range(n):
    plain.produce(src, value=str(i).encode(), partition=0)
plain.flush(30)

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
})
consumer.assign([TopicPartition(src, 0, 0)])
txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ctp-1"})
txn.init_transactions(30)

done = 0
aborted_once = False
deadline = time.time() + 60
while done < n and time.time() < deadline:
    msgs = consumer.consume(num_messages=5, timeout=1.0)
    msgs = [m for m in msgs if m.error() is None]
    if not msgs:
        continue
    txn.begin_transaction()
    for m in msgs:
        txn.produce(dst, value=str(int(m.value()) * 10).encode(), partition=0)
    if not aborted_once:
        aborted_once = True
        txn.flush(30)
        txn.abort_transaction(30)
        # Go back: the aborted batch is redone.
        consumer.seek(TopicPartition(src, 0, msgs[0].offset()))
        continue
    offsets = [TopicPartition(src, 0, msgs[-1].offset() + 1)]
    txn.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
    txn.commit_transaction(30)
    done = msgs[-1].offset() + 1
consumer.close()


def read(isolation, expect):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "reader-" + isolation,
        "enable.auto.commit": False,
        "isolation.level": isolation,
    })
    c.assign([TopicPartition(dst, 0, 0)])
    values = []
    quiet = time.time()
    end = time.time() + 30
    while time.time() < end:
        m = c.poll(0.2)
        if m is None:
            if len(values) >= expect and time.time() - quiet > 1.0:
                break
            continue
        if m.error():
            continue
        values.append(int(m.value()))
        quiet = time.time()
    c.close()
    return values


print(json.dumps({"committed_values": read("read_committed", n)}))
print(json.dumps({"uncommitted_count": len(read("read_uncommitted", n + 1))}))
check = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
committed = check.committed([TopicPartition(src, 0)], timeout=10)
print(json.dumps({"group_offset": committed[0].offset}))
check.close()
