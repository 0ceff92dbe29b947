/**
 * Echo child for the raw limits: dials the host's Unix socket and sends every frame back.
 *
 *   node echo.mjs <socket path> [raw|v8]
 *
 * raw: the body goes back untouched (pure transport cost).
 * v8:  the body is v8.deserialize'd and v8.serialize'd again before it goes back, the work
 *      a daemon does on a payload it returns.
 * raw-onread: as raw, reading through Node's `onread` (one reused buffer, no 'data'
 *      events), as a mirai-ts daemon reads.
 * It exits when the host closes the connection.
 */
import { connect } from 'node:net';
import { deserialize, serialize } from 'node:v8';
import { FrameReader, writeFrame } from '../lib/framing.mjs';

const [path, mode = 'raw'] = process.argv.slice(2);
if (!path || (mode !== 'raw' && mode !== 'v8' && mode !== 'raw-onread')) {
  process.stderr.write('usage: node echo.mjs <socket path> [raw|v8|raw-onread]\n');
  process.exit(2);
}

/** One reused read buffer. Small bodies only: writeFrame copies one next to its prefix before
 * the buffer is read into again (a large body would be written as a view of it). */
const onread = () => ({
  buffer: Buffer.allocUnsafe(64 * 1024),
  callback: (bytes, buffer) => {
    reader.push(buffer.subarray(0, bytes));
    return true;
  },
});
const socket = mode === 'raw-onread' ? connect({ path, onread: onread() }) : connect(path);
const reader = new FrameReader(
  mode === 'v8' ? (body) => writeFrame(socket, serialize(deserialize(body))) : (body) => writeFrame(socket, body),
);
if (mode !== 'raw-onread') socket.on('data', (chunk) => reader.push(chunk));
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
