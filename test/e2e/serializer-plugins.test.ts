/**
 * The serializer plugins on real daemons, together in one profile: tables, frames and
 * tensors nested in one value both ways, values made on the daemon, ONNX inference on the
 * daemon, and miraiMap over the rows of an Arrow Table or a Polars DataFrame.
 */
import { Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';
import pl from 'nodejs-polars';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, miraiMap, mirai, SerializationError } from '@mirai-ts/core';
import { arrowSerializer } from '@mirai-ts/serializer-arrow';
import { onnxSerializer } from '@mirai-ts/serializer-onnx';
import { polarsSerializer } from '@mirai-ts/serializer-polars';

/** A hand-built ONNX model: y = relu(x · w + b), x and y 2×2 float32. */
function modelBytes(): Uint8Array {
  const { onnx } = onnxProto;
  const io = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'affine-relu',
      node: [
        { opType: 'MatMul', input: ['x', 'w'], output: ['xw'] },
        { opType: 'Add', input: ['xw', 'b'], output: ['z'] },
        { opType: 'Relu', input: ['z'], output: ['y'] },
      ],
      initializer: [
        { name: 'w', dataType: 1, dims: [2, 2], floatData: [1, -1, 2, 0.5] },
        { name: 'b', dataType: 1, dims: [2], floatData: [0.5, -10] },
      ],
      input: [io('x')],
      output: [io('y')],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const PROFILE = 'plugins-e2e';

describe('serializer plugins through real daemons', () => {
  beforeAll(async () => {
    await daemons(2, { profile: PROFILE, serializers: [arrowSerializer(), polarsSerializer(), onnxSerializer()] });
  }, 60_000);
  afterAll(async () => {
    await daemons(0, { profile: PROFILE });
  });

  it('carries a table, a frame and tensors nested in one value, and brings back values made on the daemon', async () => {
    const table = new Table({ id: vectorFromArray([1, 2, 3], new Int32()), w: vectorFromArray([0.5, 1.5, null], new Float64()) });
    const frame = pl.DataFrame({ city: ['Oslo', 'Lima', 'Oslo'], temp: [3, 19, 5] });
    const model = {
      name: 'demo',
      layers: [
        { weights: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [2, 2]) },
        { weights: new ort.Tensor('int64', BigInt64Array.of(7n), [1]) },
      ],
      lookup: new Map([['t', table]]),
    };
    const out = await mirai(
      async ({ model, frame }: { model: any; frame: any }) => {
        const arrow = await import('apache-arrow');
        const { default: pl } = await import('nodejs-polars');
        const t = model.lookup.get('t');
        const oslo = frame.filter(pl.col('city').eq(pl.lit('Oslo')));
        return {
          rows: t.numRows,
          weightSum: (model.layers[0].weights.data as Float32Array).reduce((a: number, b: number) => a + b, 0),
          seven: model.layers[1].weights.data[0],
          oslo,
          meanTemp: oslo.getColumn('temp').mean(),
          made: new arrow.Table({ n: arrow.vectorFromArray(['made', 'here'], new arrow.Utf8()) }),
          same: { model, frame },
        };
      },
      { model, frame },
      { profile: PROFILE, timeout: 30_000 },
    );
    expect([out.rows, out.weightSum, out.seven, out.meanTemp]).toEqual([3, 10, 7n, 4]);
    expect(pl.DataFrame.isDataFrame(out.oslo) && out.oslo.height).toBe(2);
    expect(out.made).toBeInstanceOf(Table);
    expect(out.made.getChild('n')!.toArray()).toEqual(['made', 'here']);
    expect(out.same.model.layers[0].weights).toBeInstanceOf(ort.Tensor);
    expect(out.same.model.lookup.get('t')).toBeInstanceOf(Table);
    expect(out.same.model.lookup.get('t').getChild('w').toArray()).toEqual(table.getChild('w')!.toArray());
    expect(out.same.frame.frameEqual(frame)).toBe(true);
  });

  it('runs ONNX inference on a daemon and returns the output tensor', async () => {
    const bytes = modelBytes();
    const x = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [2, 2]);
    const local = await (await ort.InferenceSession.create(bytes)).run({ x });
    const remote = await mirai(
      async ({ bytes, x }: { bytes: Uint8Array; x: unknown }) => {
        const { default: ort } = await import('onnxruntime-node');
        const session = await ort.InferenceSession.create(bytes);
        return (await session.run({ x: x as never })).y!;
      },
      { bytes, x },
      { profile: PROFILE, timeout: 30_000 },
    );
    expect(remote).toBeInstanceOf(ort.Tensor);
    expect([remote.type, [...remote.dims]]).toEqual(['float32', [2, 2]]);
    expect(Array.from(remote.data as Float32Array)).toEqual(Array.from(local.y!.data as Float32Array));
    expect(Array.from(remote.data as Float32Array)).toEqual([5.5, 0, 11.5, 0]);
  });

  it('round-trips a million-row table through a daemon', async () => {
    const n = 1_000_000;
    const table = new Table({
      i: vectorFromArray(Int32Array.from({ length: n }, (_, k) => k)),
      s: vectorFromArray(Array.from({ length: n }, (_, k) => `s${k % 1000}`), new Utf8()),
    });
    const back = await mirai(({ t }: { t: Table }) => t, { t: table }, { profile: PROFILE, timeout: 60_000 });
    expect(back.numRows).toBe(n);
    expect(back.get(987_654)!.toJSON()).toEqual({ i: 987_654, s: 's654' });
    expect(Buffer.compare(Buffer.from(back.getChild('i')!.toArray().buffer), Buffer.from(table.getChild('i')!.toArray().buffer))).toBe(0);
  });

  it('miraiMap maps over the rows of an Arrow Table, each row a plain object', async () => {
    const table = new Table({ a: vectorFromArray([1, 2, 3], new Int32()), b: vectorFromArray(['x', null, 'z'], new Utf8()) });
    const factor = new Table({ f: vectorFromArray([10], new Int32()) });
    const out = await miraiMap(
      table,
      (row: { a: number; b: string | null }, args: { factor: Table }) => ({
        plain: Object.getPrototypeOf(row) === Object.prototype,
        value: row.a * (args.factor.get(0)!.toJSON().f as number),
        b: row.b,
      }),
      { profile: PROFILE, args: { factor } },
    ).flat();
    expect(out).toEqual([
      { plain: true, value: 10, b: 'x' },
      { plain: true, value: 20, b: null },
      { plain: true, value: 30, b: 'z' },
    ]);
  });

  it('miraiMap maps over the rows of a Polars DataFrame and the values of a Series', async () => {
    const frame = pl.DataFrame({ x: [1, 2, 3, 4], label: ['a', 'b', 'c', 'd'] });
    const rows = await miraiMap(frame, (row: { x: number; label: string }) => `${row.label}${row.x * row.x}`, { profile: PROFILE }).flat();
    expect(rows).toEqual(['a1', 'b4', 'c9', 'd16']);
    const values = await miraiMap(frame.getColumn('x'), (x: number) => x + 0.5, { profile: PROFILE }).flat();
    expect(values).toEqual([1.5, 2.5, 3.5, 4.5]);
  });
});

describe('miraiMap over a table without its serializer', () => {
  afterAll(async () => {
    await daemons(0, { profile: 'no-arrow' });
  });

  it('refuses the rows with a SerializationError naming the first element', async () => {
    await daemons(1, { profile: 'no-arrow' });
    const table = new Table({ a: vectorFromArray([1, 2], new Int32()) });
    expect(() => miraiMap(table, (row: unknown) => row, { profile: 'no-arrow' })).toThrow(SerializationError);
    expect(() => miraiMap(table, (row: unknown) => row, { profile: 'no-arrow' })).toThrow(/items\[0\]/);
  });
});
