// The plugin's IPC reader uses one Arrow internal, VectorLoader (apache-arrow/visitor/vectorloader),
// because no public API loads a record batch from buffers that live in separate segments. This
// pins what it relies on, so an Arrow upgrade that changes it fails here by name; the peer range
// (package.json) admits only the major version tested.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as arrow from 'apache-arrow';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const installed = JSON.parse(readFileSync(join(dirname(createRequire(import.meta.url).resolve('apache-arrow')), 'package.json'), 'utf8')).version;

describe('Arrow internals used by the serializer', () => {
  it('the installed apache-arrow is the major version the peer range admits', () => {
    const major = /\^(\d+)\./.exec(manifest.peerDependencies['apache-arrow'])?.[1];
    expect(installed.split('.')[0]).toBe(major);
  });

  it('rows are the public MapRow / StructRow classes', () => {
    const table = arrow.tableFromArrays({ a: Int32Array.from([1]) });
    expect(table.get(0)).toBeInstanceOf(arrow.StructRow);
    expect(typeof arrow.MapRow).toBe('function');
  });

  it('VectorLoader(bytes, nodes, buffers, dictionaries, metadataVersion, variadicBufferCounts).visitMany(types) loads a batch', () => {
    // Build a batch with the public writer, read its header with the public Message class, then
    // load its columns with VectorLoader exactly as src/ipc-segments.ts does.
    const table = new arrow.Table({
      x: arrow.vectorFromArray([1.5, 2.5, 3.5], new arrow.Float64()),
      s: arrow.vectorFromArray(['a', null, 'c'], new arrow.Utf8()),
    });
    const bytes = arrow.tableToIPC(table, 'stream');
    const reader = new arrow.MessageReader(bytes);
    const schemaMessage = reader.readMessage()!;
    expect(schemaMessage.headerType).toBe(arrow.MessageHeader.Schema);
    const schema = schemaMessage.header() as arrow.Schema;
    const message = reader.readMessage()!;
    expect(message.headerType).toBe(arrow.MessageHeader.RecordBatch);
    const header = message.header() as ReturnType<arrow.Message<arrow.MessageHeader.RecordBatch>['header']>;
    const body = reader.readMessageBody(message.bodyLength);
    const loader = new VectorLoader(body, header.nodes, header.buffers, new Map(), schema.metadataVersion, header.variadicBufferCounts);
    const children = loader.visitMany(schema.fields.map((f) => f.type));
    const data = arrow.makeData({ type: new arrow.Struct(schema.fields), length: header.length, children });
    const batch = new arrow.RecordBatch(schema, data);
    expect([...batch.getChild('x')!]).toEqual([1.5, 2.5, 3.5]);
    expect([...batch.getChild('s')!]).toEqual(['a', null, 'c']);
  });
});
