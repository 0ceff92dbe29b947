/**
 * Bare child for the `cpu8x500_limit` raw limit: dials the host's Unix socket; each frame is
 * JSON `{ n, count }`: it runs `busy({ n })` `count` times in a row (the loop a daemon runs for
 * `cpu8x500`, from the same module) and answers with an empty frame.
 *
 *   node burn.mjs <socket path>
 *
 * It exits when the host closes the connection.
 */
import { connect } from 'node:net';
import { busy } from '../lib/busy.mjs';
import { FrameReader, writeFrame } from '../lib/framing.mjs';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node burn.mjs <socket path>\n');
  process.exit(2);
}
const socket = connect(path);
const reader = new FrameReader((body) => {
  const { n, count } = JSON.parse(Buffer.from(body).toString('utf8'));
  for (let i = 0; i < count; i++) busy({ n });
  writeFrame(socket, new Uint8Array(0));
});
socket.on('data', (chunk) => reader.push(chunk));
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
