/**
 * Checks an Arrow IPC *file* (what Polars' `writeIPC()` produces) before a reader sees it.
 *
 * A file is `ARROW1\0\0`, an IPC stream, a `Footer` flatbuffer, the footer's length and
 * `ARROW1`. Readers seek to messages through the footer's blocks, so the stream is checked
 * message by message ({@link IpcChecker}), and every block must then point at one of those
 * checked messages, with the same header and body sizes and kind; the footer's schema must be
 * the stream's, and no message may be listed twice (readers read what the footer lists, so
 * the rows the stream was allowed are the most they read). Dictionaries may grow by deltas but
 * not be replaced, and the footer lists them in stream order (readers load them all, in footer
 * order, before any batch).
 */
import { invalid } from './flatbuffer-reader.js';
import { contiguous, IpcChecker, type CheckedMessage, type IpcLimits } from './ipc-check.js';
import { parseFooter, sameField, type IpcBlock } from './ipc-metadata.js';

const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
/** Leading magic plus padding to 8 bytes. */
const HEAD = 8;
/** Trailing footer length plus magic. */
const TAIL = 10;

/**
 * Throws a `DeserializationError` (from `@mirai-ts/core`) naming `what` and the first claim
 * the bytes do not back. `limits` adds what the reader holds at most (Polars: under 2^32 rows).
 */
export function checkIpcFile(file: Uint8Array, what: string, limits: IpcLimits = {}): void {
  const fail = (message: string): never => invalid(`${what}: ${message}`);
  const n = file.byteLength;
  if (n < HEAD + TAIL || !hasMagic(file, 0) || !hasMagic(file, n - 6)) fail('not an Arrow IPC file (no ARROW1 magic at both ends)');
  const footerLength = new DataView(file.buffer, file.byteOffset + n - TAIL, 4).getInt32(0, true);
  const footerStart = n - TAIL - footerLength;
  if (footerLength <= 0 || footerStart < HEAD) fail(`the file footer claims ${footerLength} bytes in a ${n}-byte file`);
  const stream = file.subarray(0, footerStart);
  const checker = new IpcChecker(contiguous(stream), what, true, limits);
  const messages = new Map<number, CheckedMessage>();
  let at = HEAD;
  for (;;) {
    const message = checker.next(at);
    if (message === undefined) break;
    messages.set(message.start, message);
    at = message.end;
  }
  const schema = checker.schema ?? fail('the file has no schema');
  const footer = parseFooter(file.subarray(footerStart, n - TAIL), what);
  if (footer.schema.fields.length !== schema.fields.length || !footer.schema.fields.every((f, i) => sameField(f, schema.fields[i]!))) {
    fail('the file footer describes another schema than its stream');
  }
  // Each block a distinct message: readers read what the footer lists, so a batch listed N
  // times would be read N times, past the stream's row bound.
  const listed = new Set<number>();
  const block = (b: IpcBlock, kind: 'dictionary' | 'batch'): void => {
    if (listed.has(b.offset)) fail(`the file footer lists the ${kind} message at offset ${b.offset} twice`);
    listed.add(b.offset);
    const message = messages.get(b.offset);
    if (
      message === undefined ||
      message.message.kind !== kind ||
      message.bodyStart - message.start !== b.metadataLength ||
      message.message.bodyLength !== b.bodyLength
    ) {
      fail(`a file footer block (offset ${b.offset}, header ${b.metadataLength} bytes, body ${b.bodyLength} bytes) matches no ${kind} message`);
    }
  };
  // Readers apply dictionary blocks in footer order: it must be the stream's order, that was checked.
  footer.dictionaries.forEach((b, i) => {
    block(b, 'dictionary');
    if (i > 0 && b.offset <= footer.dictionaries[i - 1]!.offset) fail('the file footer lists dictionaries out of stream order');
  });
  for (const b of footer.recordBatches) block(b, 'batch');
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  return MAGIC.every((b, i) => bytes[at + i] === b);
}
