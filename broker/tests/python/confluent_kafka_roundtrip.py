"""confluent-kafka (librdkafka underneath) against minikafka: keyed JSON produced with
acks=all, then consumed by a group member that commits, then the committed offsets read back.

Usage: confluent_kafka_roundtrip.py BOOTSTRAP TOPIC GROUP COUNT
Prints JSON lines: {"sent": ...} per delivery, {"got": ...} per record,
{"committed": {partition: offset}} at the end.
"""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def emit(obj):
    print(json.dumps(obj), flush=True)


producer = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    # librdkafka defaults to CRC32 (consistent_random); murmur2_random places keys as Java does.
    "partitioner": "murmur2_random",
    "linger.ms": 5,
})


def delivered(err, msg):
    if err is not None:
        raise SystemExit(f"delivery failed: {err}")
    value = json.loads(msg.value())
    emit({"sent": value["id"], "key": msg.key().decode(), "partition": msg.partition(),
          "offset": msg.offset()})


for i in range(count):
    key = f"user_{i % 5}"
    value = {"id": i, "user": key, "action": "view"}
    producer.produce(topic, key=key.encode(), value=json.dumps(value).encode(),
                     on_delivery=delivered)
    producer.poll(0)
if producer.flush(30) != 0:
    raise SystemExit("not every message was delivered within 30 s")

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "partition.assignment.strategy": "roundrobin",
    "session.timeout.ms": 6000,
})
consumer.subscribe([topic])
seen = 0
polls = 0
while seen < count and polls < 600:
    polls += 1
    msg = consumer.poll(0.1)
    if msg is None:
        continue
    if msg.error():
        raise SystemExit(f"consume error: {msg.error()}")
    value = json.loads(msg.value())
    emit({"got": value["id"], "key": msg.key().decode(), "partition": msg.partition(),
          "offset": msg.offset(), "value": value})
    seen += 1
consumer.commit(asynchronous=False)
assigned = consumer.assignment()
committed = consumer.committed(assigned, timeout=10)
emit({"committed": {str(tp.partition): tp.offset for tp in committed}})
consumer.close()
