'use strict';
// require('@mirai-ts/core'): the package is an ES module, which Node >= 20.19 (and >= 22.12)
// loads with require(). Older Node versions throw ERR_REQUIRE_ESM; say what to do instead.
try {
  module.exports = require('./dist/index.js');
} catch (err) {
  if (err && err.code === 'ERR_REQUIRE_ESM') {
    throw new Error(
      `@mirai-ts/core is an ES module: require() of it needs Node >= 20.19 (or >= 22.12); this is Node ${process.version}` +
        ' with require(esm) unavailable. Upgrade Node, or load it with import() / import ... from.',
      { cause: err },
    );
  }
  throw err;
}
