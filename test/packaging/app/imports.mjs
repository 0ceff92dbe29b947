// Every package that needs no heavy peer imports from its published entry.
import assert from 'node:assert/strict';
for (const [name, exported] of [
  ['@mirai-ts/core', 'daemons'],
  ['@mirai-ts/core/plugin', 'SocketChannel'],
  ['@mirai-ts/core/daemon', 'runDaemon'],
  ['@mirai-ts/threads', 'threadDaemons'],
  ['@mirai-ts/http', 'fastifyHandler'],
  ['@mirai-ts/dashboard', 'dashboard'],
  ['@mirai-ts/launcher-ssh', 'sshConfig'],
  ['@mirai-ts/launcher-cluster', 'slurm'],
  ['@mirai-ts/transport-ws', 'wsTransport'],
  ['@mirai-ts/transport-nats', 'natsTransport'],
  ['@mirai-ts/serializer-arrow', 'arrowSerializer'],
]) {
  assert.equal(typeof (await import(name))[exported], 'function', `${name} exports ${exported}`);
}
// A thread daemon runs the plugin's worker script, which carries core's daemon side.
const { daemons, mirai } = await import('@mirai-ts/core');
const { threadDaemons } = await import('@mirai-ts/threads');
await daemons(1, threadDaemons());
try {
  assert.equal(await mirai(({ a }) => a + 1, { a: 41 }), 42);
} finally {
  await daemons(0);
}
console.log('imports ok');
