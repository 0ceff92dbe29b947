/**
 * Echo child for the serializer raw limits: dials the host's Unix socket, and for every
 * message decodes it with a serializer plugin, encodes the value again and sends it back:
 * the work a daemon does on a value it returns, with no mirai framing around it.
 *
 *   node serializer-echo.mjs <socket path> <arrow|polars|onnx>
 *
 * A message is one frame holding the segment count (u32), then one frame per segment.
 * It exits when the host closes the connection.
 */
import { connect } from 'node:net';
import { FrameReader, writeFrame } from '../lib/framing.mjs';
import { pluginSerializer, readMessages, writeMessage } from '../lib/segments.mjs';

const [path, plugin] = process.argv.slice(2);
if (!path || !plugin) {
  process.stderr.write('usage: node serializer-echo.mjs <socket path> <arrow|polars|onnx>\n');
  process.exit(2);
}

const serializer = await pluginSerializer(plugin);
const socket = connect(path);
const reader = new FrameReader(
  readMessages(async (segments) => {
    const value = await serializer.decode(segments);
    writeMessage(socket, await serializer.encode(value));
  }),
);
socket.on('data', (chunk) => reader.push(chunk));
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
