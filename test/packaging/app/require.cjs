// CommonJS: require() of the ES module packages (Node >= 20.19), then a daemon from there.
const assert = require('node:assert/strict');
const core = require('@mirai-ts/core');
assert.equal(typeof core.mirai, 'function');
assert.equal(typeof require('@mirai-ts/core/plugin').encodeFrame, 'function');
assert.equal(typeof require('@mirai-ts/http').expressHandler, 'function');
(async () => {
  await core.daemons(1);
  assert.equal(await core.mirai(({ n }) => n * 2, { n: 21 }), 42);
  await core.daemons(0);
  console.log('require ok');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
