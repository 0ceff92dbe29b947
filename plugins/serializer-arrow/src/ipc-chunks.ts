/**
 * Arrow IPC stream bytes as a list of chunks, without copying column buffers.
 *
 * `tableToIPC()` concatenates every message into one new buffer. Here the writer's output
 * is collected chunk by chunk instead: message headers and padding are small and get packed
 * together, while each large column buffer stays a view of the table's own memory and goes
 * to the socket as its own segment. The chunks, concatenated, are a valid IPC stream.
 */
import { RecordBatch, RecordBatchStreamWriter, Table } from 'apache-arrow';

/** Chunks below this size are packed into one buffer with their neighbours. */
export const PACK_BELOW_BYTES = 64 * 1024;
/** More large chunks than this and everything is packed into one buffer (frame segment limits). */
const MAX_CHUNKS = 4096;

/** A stream writer that records what it writes instead of queueing it. */
class ChunkWriter extends RecordBatchStreamWriter {
  readonly chunks: Uint8Array[] = [];

  protected override _write(chunk: unknown): this {
    if (!this._started) return this;
    const view = chunk as ArrayBufferView;
    if (!ArrayBuffer.isView(view) || view.byteLength === 0) return this;
    this.chunks.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    this._position += view.byteLength;
    return this;
  }
}

/** Writes a Table or a RecordBatch as IPC stream chunks (schema, dictionaries, batches, end marker). */
export function writeIpcChunks(value: Table | RecordBatch): Uint8Array[] {
  const writer = new ChunkWriter();
  if (value instanceof Table) writer.writeAll(value);
  else {
    writer.write(value);
    writer.finish();
  }
  return pack(writer.chunks);
}

/** Packs runs of small chunks into single buffers; large chunks are kept as they are. */
function pack(chunks: readonly Uint8Array[]): Uint8Array[] {
  let large = 0;
  for (const c of chunks) if (c.byteLength >= PACK_BELOW_BYTES) large++;
  const threshold = large > MAX_CHUNKS ? Number.POSITIVE_INFINITY : PACK_BELOW_BYTES;
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 1) out.push(run[0]!);
    else if (run.length > 1) {
      const joined = new Uint8Array(runBytes);
      let offset = 0;
      for (const c of run) {
        joined.set(c, offset);
        offset += c.byteLength;
      }
      out.push(joined);
    }
    run = [];
    runBytes = 0;
  };
  for (const c of chunks) {
    if (c.byteLength >= threshold) {
      flush();
      out.push(c);
    } else {
      run.push(c);
      runBytes += c.byteLength;
    }
  }
  flush();
  return out;
}
