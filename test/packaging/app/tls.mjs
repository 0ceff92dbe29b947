// A TLS pool from the installed packages: zero-config certificates, daemons verify the host.
import assert from 'node:assert/strict';
import { daemons, mirai, status } from '@mirai-ts/core';

await daemons(2, { url: 'tls+tcp://127.0.0.1:0' });
assert.match(status().url, /^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
assert.equal(await mirai(({ a, b }) => a + b, { a: 100, b: 42 }), 142);
await daemons(0);
console.log('tls ok');
