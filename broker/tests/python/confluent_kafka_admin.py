"""confluent-kafka's AdminClient against minikafka: every admin API of issue 13, and a
transactional producer that fails at once (minikafka has no transaction coordinator).

Usage: confluent_kafka_admin.py BOOTSTRAP
Checks each answer itself (an AssertionError ends the script with a traceback) and
prints one "ok <step>" line per step, then "done", for the Rust test that runs it
(broker/tests/admin_python.rs).
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic, ResourceType)

bootstrap = sys.argv[1]
topic = "ck-admin"
admin = AdminClient({"bootstrap.servers": bootstrap})


def one(futures):
    """The result of the only future in a dict of futures."""
    (future,) = futures.values()
    return future.result()


def error_of(futures):
    """The KafkaError of the only future in a dict of futures (it must fail)."""
    try:
        one(futures)
    except KafkaException as e:
        return e.args[0]
    raise AssertionError("expected an error")


one(admin.create_topics([NewTopic(topic, 1, 1)]))
print("ok create_topics")

resource = ConfigResource(ResourceType.TOPIC, topic)
configs = one(admin.describe_configs([resource]))
assert configs["retention.ms"].value == "604800000", configs["retention.ms"]
assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
assert "cleanup.policy" in configs and "segment.bytes" in configs
broker = one(admin.describe_configs([ConfigResource(ResourceType.BROKER, "0")]))
assert "log.retention.ms" in broker, sorted(broker)
print("ok describe_configs", len(configs))

set_retention = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
    ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
])
one(admin.incremental_alter_configs([set_retention]))
configs = one(admin.describe_configs([resource]))
assert configs["retention.ms"].value == "3600000"
assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
assert configs["cleanup.policy"].value == "delete,compact", configs["cleanup.policy"]
bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
    ConfigEntry("segment.bytes", "lots", incremental_operation=AlterConfigOpType.SET)])
err = error_of(admin.incremental_alter_configs([bad]))
assert err.name() == "INVALID_CONFIG" and "segment.bytes" in err.str(), err
validate = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
    ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.SET)])
one(admin.incremental_alter_configs([validate], validate_only=True))
assert one(admin.describe_configs([resource]))["retention.ms"].value == "3600000"
print("ok incremental_alter_configs")

one(admin.create_partitions([NewPartitions(topic, 3)]))
err = error_of(admin.create_partitions([NewPartitions(topic, 2)]))
assert err.name() == "INVALID_PARTITIONS", err
assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 3
print("ok create_partitions")

producer = Producer({"bootstrap.servers": bootstrap})
# Keyed: cleanup.policy has compact since the alter above, and a compacted topic refuses
# key-less records.
for _ in range(5):
    producer.produce(topic, b"v", key=b"k", partition=0)
producer.flush(10)
deleted = one(admin.delete_records([TopicPartition(topic, 0, 3)]))
assert deleted.low_watermark == 3, deleted
print("ok delete_records")

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-group",
                     "enable.auto.commit": False})
consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
consumer.close()
one(admin.delete_consumer_groups(["ck-group"]))
err = error_of(admin.delete_consumer_groups(["ck-group"]))
assert err.name() == "GROUP_ID_NOT_FOUND", err
print("ok delete_consumer_groups")

cluster = admin.describe_cluster().result()
assert cluster.cluster_id == "minikafka-cluster-0000", cluster.cluster_id
assert [n.id for n in cluster.nodes] == [0]
print("ok describe_cluster")

txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ck-txn"})
txn.init_transactions(30)
txn.begin_transaction()
txn.produce(topic, key=b"k", value=b"in a transaction", partition=0)
txn.commit_transaction(30)
print("ok transactions")
print("done")
