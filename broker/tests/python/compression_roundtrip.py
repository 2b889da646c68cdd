"""Compressed produce from Python clients against minikafka: for each codec, COUNT values
produced to partition 0 of `TOPIC_PREFIX-<client>-<codec>` with the client compressing,
then read back by a plain consumer of that partition.

Usage: compression_roundtrip.py BOOTSTRAP TOPIC_PREFIX COUNT CLIENT:CODEC...
CLIENT is `confluent` (confluent-kafka, librdkafka underneath) or `kafka-python`.
Prints one JSON line per topic: {"topic": ..., "read": [values in offset order]}.
"""
import json
import sys

bootstrap, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


def values(codec):
    # Repetitive, so that compressing pays and librdkafka keeps the compressed batch.
    return [f"{i:03} {codec} the quick brown fox jumps over the lazy dog" for i in range(count)]


def confluent(topic, codec):
    from confluent_kafka import Consumer, Producer, TopicPartition
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                         "linger.ms": 50, "acks": "all"})
    failed = []
    for v in values(codec):
        producer.produce(topic, value=v.encode(), partition=0,
                         on_delivery=lambda err, _msg: err and failed.append(str(err)))
    if producer.flush(30) != 0 or failed:
        raise SystemExit(f"{topic}: not delivered: {failed}")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    read = []
    for _ in range(300):
        if len(read) >= count:
            break
        msg = consumer.poll(0.1)
        if msg is not None and msg.error() is None:
            read.append(msg.value().decode())
    consumer.close()
    return read


def kafka_python(topic, codec):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec,
                             linger_ms=50, acks="all")
    futures = [producer.send(topic, value=v.encode(), partition=0) for v in values(codec)]
    producer.flush(30)
    for f in futures:
        f.get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    read = []
    for msg in consumer:
        read.append(msg.value.decode())
        if len(read) >= count:
            break
    consumer.close()
    return read


for spec in sys.argv[4:]:
    client, codec = spec.split(":")
    topic = f"{prefix}-{client}-{codec}"
    read = (confluent if client == "confluent" else kafka_python)(topic, codec)
    if read != values(codec):
        raise SystemExit(f"{topic}: read back {read!r}")
    print(json.dumps({"topic": topic, "read": read}), flush=True)
