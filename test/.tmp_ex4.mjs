import assert from 'node:assert/strict';
import { daemons, info, mirai, status } from '@mirai-ts/core';

await daemons(2);
const poison = mirai(() => process.exit(1)); // kills its daemon
await assert.rejects(poison, { errorValue: 19 }); // costs its own task only
while (info().cumulative < 3 || info().connections < 2) await new Promise((r) => setTimeout(r, 20));
assert.equal(info().connections, 2); // replaced
assert.equal(status().launches.failures, 0);
await daemons(0);
