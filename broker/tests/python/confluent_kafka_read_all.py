"""Reads partition 0 of TOPIC from the beginning to its end with confluent-kafka
(librdkafka), without a group, and prints one JSON line per record:
{"offset": o, "key": k, "value": v}  (value null for a tombstone).

Usage: confluent_kafka_read_all.py BOOTSTRAP TOPIC
"""
import json
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "unused",  # required by the constructor; assign() joins no group
    "enable.auto.commit": False,
    "enable.partition.eof": True,
})
consumer.assign([TopicPartition(topic, 0, 0)])
while True:
    msg = consumer.poll(30.0)
    if msg is None:
        sys.exit("no record and no end of partition within 30 s")
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            break
        sys.exit(f"error: {msg.error()}")
    value = msg.value()
    print(json.dumps({
        "offset": msg.offset(),
        "key": msg.key().decode(),
        "value": value.decode() if value is not None else None,
    }), flush=True)
consumer.close()
