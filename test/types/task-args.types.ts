/**
 * Type tests (checked by `pnpm typecheck`, never run): a task that needs its arguments cannot
 * be submitted without them, arguments TypeScript can see hold a function or a symbol do not
 * compile, and inference stays what it was.
 */
import { expectTypeOf } from 'vitest';
import { everywhere, fromModule, mirai, miraiMap, type Mirai, type MiraiMap } from '@mirai-ts/core';

/** A class instance with methods: what serializer plugins send (an Arrow table, a frame). */
declare class Table {
  readonly numRows: number;
  toArray(): unknown[];
}
declare const table: Table;

// Inference, as before.
expectTypeOf(mirai(() => 1)).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai(async () => 'x')).toEqualTypeOf<Mirai<string>>();
expectTypeOf(mirai((x) => x * 2, 21)).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai(({ a, b }: { a: number; b: number }) => a + b, { a: 1, b: 2 })).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai(({ s }) => s.length, { s: 'abc' }, { timeout: 100 })).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai((n?: number) => n ?? 0)).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai((args: unknown) => args)).toEqualTypeOf<Mirai<unknown>>();
expectTypeOf(mirai(() => 1, undefined, { timeout: 5 })).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai(async ({ n }: { n: number }, { signal }) => (signal.aborted ? 0 : n), { n: 1 })).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai((t: Table) => t.numRows, table)).toEqualTypeOf<Mirai<number>>(); // methods of a class instance are fine
expectTypeOf(mirai(({ t }) => t.numRows, { t: table })).toEqualTypeOf<Mirai<number>>();
expectTypeOf(mirai(fromModule('./tasks.js', 'fit'), { n: 1 })).toEqualTypeOf<Mirai<unknown>>();
expectTypeOf(mirai(fromModule('./tasks.js', 'fit'))).toEqualTypeOf<Mirai<unknown>>();
expectTypeOf(mirai((args: any) => args, { f: () => 1 })).toEqualTypeOf<Mirai<any>>(); // any opts out
expectTypeOf(mirai(({ n }: { n: number }) => n, JSON.parse('{"n":1}'))).toEqualTypeOf<Mirai<number>>();

// A task that needs its arguments.
// @ts-expect-error Expected 2-3 arguments, but got 1
mirai((n: number) => n);
// @ts-expect-error the destructured args are missing
mirai(({ x }: { x: number }) => x);
// @ts-expect-error undefined is not an args object
mirai(({ x }: { x: number }) => x, undefined);

// Arguments that cannot travel.
// @ts-expect-error a function in args (the advice for a free helper is to move it, not pass it)
mirai(({ x, double }) => double(x), { x: 1, double: (n: number) => n * 2 });
// @ts-expect-error a function as args
mirai((f) => f(), () => 1);
// @ts-expect-error a symbol deep in args
mirai(({ list }) => list.length, { list: [{ tag: Symbol('t') }] });
// @ts-expect-error a function in an array
mirai((fs) => fs.length, [(n: number) => n]);

// everywhere(): the same rules.
expectTypeOf(everywhere(() => 1)).toEqualTypeOf<Promise<number[]>>();
expectTypeOf(everywhere(({ url }) => url.length, { url: 'x' }, { min: 1 })).toEqualTypeOf<Promise<number[]>>();
// @ts-expect-error needs args
void everywhere(({ url }: { url: string }) => url);
// @ts-expect-error a function in args
void everywhere(({ f }) => f(), { f: () => 1 });

// miraiMap(): `args` (in options) is required when the function's second parameter needs it.
expectTypeOf(miraiMap([1, 2, 3], (x) => x * 2)).toEqualTypeOf<MiraiMap<number, number>>();
expectTypeOf(miraiMap({ a: 1, b: 2 }, (x) => String(x))).toEqualTypeOf<MiraiMap<string, string>>();
expectTypeOf(miraiMap([1, 2], (x, { by }: { by: number }) => x * by, { args: { by: 2 } })).toEqualTypeOf<MiraiMap<number, number>>();
expectTypeOf(miraiMap([1, 2], (x, by) => x * by, { args: 2, timeout: 10 })).toEqualTypeOf<MiraiMap<number, number>>();
// @ts-expect-error args missing
miraiMap([1, 2], (x, { by }: { by: number }) => x * by);
// @ts-expect-error args missing from the options
miraiMap([1, 2], (x, { by }: { by: number }) => x * by, { timeout: 10 });
// @ts-expect-error a function in args
miraiMap([1, 2], (x, { f }) => f(x), { args: { f: (n: number) => n } });
// @ts-expect-error functions as items
miraiMap([() => 1, () => 2], (f) => f());
