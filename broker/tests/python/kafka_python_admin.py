"""kafka-python's KafkaAdminClient against minikafka: every admin API of issue 13.

Usage: kafka_python_admin.py BOOTSTRAP
Checks each answer itself (an AssertionError ends the script with a traceback) and
prints one "ok <step>" line per step, then "done", for the Rust test that runs it
(broker/tests/admin_python.rs).
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient,
                         NewPartitions, NewTopic)

bootstrap = sys.argv[1]
topic = "kp-admin"
admin = KafkaAdminClient(bootstrap_servers=bootstrap)

created = admin.create_topics([NewTopic(topic, 1, 1)])
assert created["topics"][0]["error_code"] == 0, created
print("ok create_topics")

# DescribeConfigs: every config, with Kafka's defaults and sources.
described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                   config_filter="all")
configs = described["topic"][topic]
assert configs["retention.ms"]["value"] == "604800000", configs["retention.ms"]
assert configs["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
assert configs["cleanup.policy"]["config_type"] == "LIST"
assert "min.insync.replicas" in configs and "message.timestamp.type" in configs
print("ok describe_configs", len(configs))

# Alter (IncrementalAlterConfigs, as kafka-python picks it), then a bad value.
altered = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "3600000"})])
assert altered["topic"][topic] == "OK", altered
modified = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
assert modified["topic"][topic]["retention.ms"]["value"] == "3600000", modified
assert modified["topic"][topic]["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
bad = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                          configs={"segment.bytes": "lots"})])
assert "InvalidConfigurationError" in str(bad["topic"][topic]), bad
print("ok alter_configs")

# CreatePartitions.
grown = admin.create_partitions({topic: NewPartitions(total_count=3)})
assert grown.results[0].error_code == 0, grown
described = admin.describe_topics([topic])
assert len(described[0]["partitions"]) == 3, described
print("ok create_partitions")

# DeleteRecords.
producer = KafkaProducer(bootstrap_servers=bootstrap)
for _ in range(5):
    producer.send(topic, value=b"v", partition=0).get(timeout=10)
producer.close()
deleted = admin.delete_records({TopicPartition(topic, 0): 3})
result = deleted[TopicPartition(topic, 0)]
assert result["error_code"] == 0 and result["low_watermark"] == 3, deleted
print("ok delete_records")

# OffsetDelete and DeleteGroups.
consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="kp-group",
                         enable_auto_commit=False)
consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, "", -1),
                 TopicPartition(topic, 1): OffsetAndMetadata(0, "", -1)})
consumer.close()
gone = admin.delete_group_offsets("kp-group", [TopicPartition(topic, 1)])
assert gone[TopicPartition(topic, 1)].__name__ == "NoError", gone
groups = admin.delete_groups(["kp-group", "kp-nobody"])
assert groups == {"kp-group": "OK", "kp-nobody": "GroupIdNotFoundError"}, groups
print("ok delete_groups")

cluster = admin.describe_cluster()
assert cluster["cluster_id"] == "minikafka-cluster-0000", cluster
assert [b["broker_id"] for b in cluster["brokers"]] == [0], cluster
print("ok describe_cluster")
admin.close()
print("done")
