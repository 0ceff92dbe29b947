// An Arrow round trip with the user's own apache-arrow and the installed serializer plugin.
import assert from 'node:assert/strict';
import { tableFromArrays, Table } from 'apache-arrow';
import { daemons, mirai } from '@mirai-ts/core';
import { arrowSerializer } from '@mirai-ts/serializer-arrow';

await daemons(1, { serializers: [arrowSerializer()] });
const table = tableFromArrays({ x: Float64Array.from([1, 2, 3]), y: Int32Array.from([4, 5, 6]) });
const back = await mirai(({ t }) => t, { t: table });
assert.ok(back instanceof Table); // the same apache-arrow copy: instanceof holds
assert.deepEqual([...back.getChild('x')], [1, 2, 3]);
assert.equal(await mirai(({ t }) => t.numRows * 10, { t: table }), 30);
await daemons(0);
console.log('arrow ok');
