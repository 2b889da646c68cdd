"""kafka-python against minikafka: produce keyed JSON, read each partition back.

Usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC COUNT
Prints one JSON line per delivery ("sent") and per record read ("got"), so the Rust
test that runs this script can check placement, offsets and content.
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

producer = KafkaProducer(
    bootstrap_servers=bootstrap,
    acks="all",
    retries=5,
    key_serializer=lambda k: k.encode(),
    value_serializer=lambda v: json.dumps(v).encode(),
)
for i in range(count):
    key = f"user_{i % 7}"
    value = {"id": i, "user": key, "action": "click"}
    md = producer.send(topic, key=key, value=value).get(timeout=30)
    print(json.dumps({"sent": i, "key": key, "partition": md.partition, "offset": md.offset}))
producer.flush()
producer.close()

consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    enable_auto_commit=False,
    consumer_timeout_ms=5000,
    value_deserializer=lambda v: json.loads(v.decode()),
)
partitions = sorted(consumer.partitions_for_topic(topic))
consumer.assign([TopicPartition(topic, p) for p in partitions])
consumer.seek_to_beginning()
seen = 0
for msg in consumer:
    print(json.dumps({"got": msg.value["id"], "key": msg.key.decode(), "partition": msg.partition,
                      "offset": msg.offset, "value": msg.value}))
    seen += 1
    if seen == count:
        break
consumer.close()
print(json.dumps({"done": seen}))
