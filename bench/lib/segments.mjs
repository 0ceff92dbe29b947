/**
 * Serializer raw limits: a plugin's segments over the length-prefixed framing of
 * framing.mjs, with no copy (each segment is its own frame, large ones gather-written).
 * Shared by the host side (serializers.mjs) and the echo child.
 */
import { writeFrame } from './framing.mjs';

/** The plugin's serializer, imported from its built package. */
export async function pluginSerializer(name) {
  if (name === 'arrow') return (await import('@mirai-ts/serializer-arrow')).arrowSerializer();
  if (name === 'polars') return (await import('@mirai-ts/serializer-polars')).polarsSerializer();
  if (name === 'onnx') return (await import('@mirai-ts/serializer-onnx')).onnxSerializer();
  throw new Error(`unknown serializer plugin '${name}'`);
}

/** Sends one message: a frame with the segment count, then each segment as a frame. */
export function writeMessage(socket, segments) {
  const list = segments instanceof Uint8Array ? [segments] : segments;
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32LE(list.length, 0);
  socket.cork();
  writeFrame(socket, count);
  for (const s of list) writeFrame(socket, s);
  socket.uncork();
}

/** A FrameReader callback that gathers frames into messages and calls `onMessage(segments)`. */
export function readMessages(onMessage) {
  let expected = -1;
  let segments = [];
  return (body) => {
    if (expected < 0) {
      expected = body.readUInt32LE(0);
      segments = [];
    } else segments.push(body);
    if (segments.length === expected) {
      expected = -1;
      onMessage(segments);
    }
  };
}
