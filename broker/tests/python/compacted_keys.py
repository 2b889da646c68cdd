"""Key-less records produced to a compacted topic, with confluent-kafka (librdkafka) and
kafka-python: what each client's delivery report says.

Usage: compacted_keys.py BOOTSTRAP TOPIC
The topic must exist with cleanup.policy=compact and one partition.
Prints one JSON line per delivery report, in this order:
  confluent-kafka: a key-less message alone, then a keyed one alone, then key-less,
  keyed, key-less sent together (one batch: linger.ms=1000);
  kafka-python: a key-less message, then a keyed one.
Each line: {"client", "key", "error" (the error's name, or null), "message" (the error's
text, or null), "offset" (or null)}.
"""
import json
import sys

from confluent_kafka import Producer
from kafka import KafkaProducer
from kafka.errors import KafkaError

bootstrap, topic = sys.argv[1], sys.argv[2]


def emit(obj):
    print(json.dumps(obj), flush=True)


# confluent-kafka: the delivery callback gets librdkafka's per-message error.
producer = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    "linger.ms": 1000,
    # The broker's refusal is final: no retries, no idempotence (its sequence would not
    # survive a refused batch).
    "retries": 0,
})


def delivered(err, msg):
    key = msg.key().decode() if msg.key() is not None else None
    emit({
        "client": "confluent-kafka",
        "key": key,
        "error": err.name() if err is not None else None,
        "message": err.str() if err is not None else None,
        "offset": msg.offset() if err is None else None,
    })


for batch in ([None], [b"k1"], [None, b"k2", None]):
    for key in batch:
        producer.produce(topic, key=key, value=b"v", on_delivery=delivered)
    if producer.flush(30) != 0:
        raise SystemExit("confluent-kafka: a delivery report did not come within 30 s")

# kafka-python: the send's future fails with the error the broker answered.
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0)
for key in (None, b"k3"):
    try:
        meta = producer.send(topic, key=key, value=b"v").get(timeout=30)
        error, message, offset = None, None, meta.offset
    except KafkaError as e:
        error, message, offset = type(e).__name__, str(e), None
    emit({"client": "kafka-python", "key": key.decode() if key else None, "error": error,
          "message": message, "offset": offset})
producer.close()
