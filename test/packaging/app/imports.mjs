// Every package that needs no heavy peer imports from its published entry.
import assert from 'node:assert/strict';
for (const [name, exported] of [
  ['@mirai-ts/core', 'daemons'],
  ['@mirai-ts/core/plugin', 'SocketChannel'],
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
console.log('imports ok');
