// Thread daemons from the installed packages: each thread runs the plugin's one CommonJS script
// (dist/worker.cjs, which carries core's daemon side), and a task there can import core itself.
import assert from 'node:assert/strict';
import { daemons, mirai, everywhere } from '@mirai-ts/core';
import { threadDaemons } from '@mirai-ts/threads';

await daemons(2, threadDaemons({ transfer: true }));
const x = new Float64Array(1000).fill(2);
const y = await mirai(({ x }) => x.map((v) => v * 21), { x });
assert.equal(y[999], 42);
await everywhere(({ k }) => { globalThis.k = k; }, { k: 7 });
assert.equal(await mirai(() => globalThis.k), 7);
// The thread's own script, not a module of the workspace.
assert.match(await mirai(() => process.argv[1]), /node_modules\/@mirai-ts\/threads\/dist\/worker\.cjs$/);
assert.equal(await mirai(async () => typeof (await import('@mirai-ts/core')).mirai), 'function');
const error = await mirai(() => { throw new Error('boom'); }).then(() => undefined, (e) => e);
assert.match(error.stack, /mirai-task\.js/);
assert.doesNotMatch(error.stack, /worker\.cjs/);
await daemons(0);
console.log('threads ok');
