// kafkajs 2 (Node.js) against minikafka: the classroom in another language.
// Usage: node kafkajs_classroom.js <bootstrap> <topic> <group> <count>
// Prints one JSON object per line: {"created"}, {"sent"...}, {"got"...},
// {"groups"...}, {"described"...}, {"committed"...}, {"done"}; exits 1 on any error.
const { Kafka, logLevel } = require('kafkajs');

const [broker, topic, groupId, countArg] = process.argv.slice(2);
const count = Number(countArg);
const kafka = new Kafka({
  clientId: 'kafkajs-classroom',
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  retry: { retries: 5 },
});
const print = (o) => console.log(JSON.stringify(o));

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  print({ created });
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  print({ partitions: meta.topics[0].partitions.length });

  // The classroom's producer: keyed JSON, acks=all.
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (let id = 0; id < count; id++) {
    const user = `student_${(id % 3) + 1}`;
    const [r] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: user, value: JSON.stringify({ id, user }) }],
    });
    print({ sent: id, key: user, partition: r.partition, offset: Number(r.baseOffset) });
  }
  await producer.disconnect();

  // The classroom's consumer: a group, from the beginning, committing.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let got = 0;
  await new Promise((resolve, reject) => {
    consumer
      .run({
        autoCommit: true,
        eachMessage: async ({ partition, message }) => {
          const value = JSON.parse(message.value.toString());
          print({ got: value.id, key: message.key.toString(), value, partition, offset: Number(message.offset) });
          got += 1;
          if (got === count) resolve();
        },
      })
      .catch(reject);
  });
  // While the member is still in the group: what the admin API shows.
  const described = await admin.describeGroups([groupId]);
  const g = described.groups[0];
  print({ described: { state: g.state, protocol: g.protocol, members: g.members.length } });
  await consumer.disconnect(); // commits, then leaves the group

  const groups = await admin.listGroups();
  print({ groups: groups.groups.map((x) => x.groupId) });
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  print({ committed: offsets[0].partitions.map((p) => [p.partition, Number(p.offset)]) });
  await admin.disconnect();
  print({ done: count });
})().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
