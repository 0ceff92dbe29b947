/**
 * Echo child for the `scale_limit` raw limit: dials the host's Unix socket `count` times and
 * sends every frame back on the connection it came from, as the daemon simulator answers tasks
 * (one process, many connections, every read into one shared buffer through `onread`), but
 * with no protocol: the floor of what many connections cost a host.
 *
 *   node echo-many.mjs <socket path> <count>
 *
 * It exits once the host has closed every connection.
 */
import { connect } from 'node:net';
import { dialMany } from '../lib/dial-many.mjs';
import { FrameReader, writeFrame } from '../lib/framing.mjs';

const [path, countText] = process.argv.slice(2);
const count = Number.parseInt(countText ?? '', 10);
if (!path || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: node echo-many.mjs <socket path> <count ≥ 1>\n');
  process.exit(2);
}
/** One read buffer for every connection: writeFrame copies a (small) body before it returns. */
const shared = Buffer.allocUnsafe(64 * 1024);
const DIALS_AT_ONCE = 64;
let open = 0;

/** Dials once; a full accept queue on the host (EAGAIN) is tried again a little later. */
function dial(tries = 200) {
  return new Promise((resolve, reject) => {
    let reader;
    const socket = connect({
      path,
      onread: {
        buffer: shared,
        callback: (bytes, buffer) => {
          reader.push(buffer.subarray(0, bytes));
          return true;
        },
      },
    });
    reader = new FrameReader((body) => writeFrame(socket, body));
    socket.once('connect', () => {
      open++;
      socket.on('close', () => {
        if (--open === 0) process.exit(0);
      });
      resolve();
    });
    socket.once('error', (err) => {
      if (err.code === 'EAGAIN' && tries > 1) setTimeout(() => dial(tries - 1).then(resolve, reject), 5);
      else reject(err);
    });
  });
}

await dialMany('echo-many', count, DIALS_AT_ONCE, dial);
