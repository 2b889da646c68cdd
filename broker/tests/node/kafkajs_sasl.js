// kafkajs with SASL against minikafka: produce one record, then read it back in a group,
// over one secured listener; and a wrong password, which must be refused.
// Usage: node kafkajs_sasl.js BOOTSTRAP MECHANISM USER PASSWORD [CAFILE]
// Prints one JSON line: {"got": value} or {"refused": message}.
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, mechanism, username, password, cafile] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: 'kafkajs-sasl',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 2 },
  ssl: cafile ? { ca: [fs.readFileSync(cafile, 'utf-8')] } : false,
  sasl: { mechanism, username, password },
});

(async () => {
  const topic = `kjs-sasl-${mechanism}`;
  const producer = kafka.producer();
  try {
    await producer.connect();
  } catch (e) {
    console.log(JSON.stringify({ refused: e.message }));
    return;
  }
  await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: `hello ${mechanism}` }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const value = await new Promise((resolve) => {
    consumer.run({ eachMessage: async ({ message }) => resolve(message.value.toString()) });
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ got: value }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
