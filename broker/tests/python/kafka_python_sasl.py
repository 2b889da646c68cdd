"""kafka-python with SASL against minikafka: produce, then read back, over a secured
listener.

Usage: kafka_python_sasl.py BOOTSTRAP TOPIC PROTOCOL MECHANISM USER PASSWORD [CAFILE]
Prints one JSON line per delivery ("sent") and per record read ("got"); a failed
authentication prints {"error": ...} and exits 2.
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

bootstrap, topic, protocol, mechanism, user, password = sys.argv[1:7]
cafile = sys.argv[7] if len(sys.argv) > 7 else None
security = dict(
    bootstrap_servers=bootstrap,
    security_protocol=protocol,
    sasl_mechanism=mechanism,
    sasl_plain_username=user,
    sasl_plain_password=password,
)
if cafile:
    security.update(ssl_cafile=cafile, ssl_check_hostname=True)

try:
    producer = KafkaProducer(acks="all", retries=3, **security)
except KafkaError as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.exit(2)
for i in range(10):
    md = producer.send(topic, key=b"k", value=json.dumps({"id": i}).encode(), partition=0).get(timeout=30)
    print(json.dumps({"sent": i, "partition": md.partition, "offset": md.offset}))
producer.close()

consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=5000, **security)
consumer.assign([TopicPartition(topic, 0)])
consumer.seek_to_beginning()
seen = 0
for msg in consumer:
    print(json.dumps({"got": json.loads(msg.value)["id"], "offset": msg.offset}))
    seen += 1
    if seen == 10:
        break
consumer.close()
