import { open } from 'node:fs/promises';
import { inspect, types } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  daemons,
  fromModule,
  info,
  isErrorValue,
  isMiraiError,
  mirai,
  Mirai,
  miraiMap,
  MiraiError,
  SerializationError,
  status,
  TaskError,
  UNRESOLVED,
  unresolved,
} from '@mirai-ts/core';

describe('mirai on local daemons', () => {
  beforeAll(async () => {
    await daemons(2);
  });
  afterAll(async () => {
    await daemons(0);
  });

  it('evaluates a function with its explicit arguments', async () => {
    const m = mirai(async ({ a, b }: { a: number; b: number }) => a + b, { a: 100, b: 42 }, { timeout: 5_000 });
    expect(unresolved(m)).toBe(true);
    expect(m.data).toBe(UNRESOLVED);
    expect(await m).toBe(142);
    expect(m.data).toBe(142);
    expect(unresolved(m)).toBe(false);
  });

  it('runs on another process', async () => {
    const pid = await mirai(() => process.pid);
    expect(pid).not.toBe(process.pid);
    expect(status()!.daemons.map((d) => d.pid)).toContain(pid);
  });

  it('round-trips structured values', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const value = {
      map: new Map<string, number>([['a', 1]]),
      set: new Set([1, 2]),
      date: new Date(0),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float64Array(100_000).fill(1.5),
      cyclic,
    };
    type Value = typeof value;
    const back = await mirai(({ value }: { value: Value }) => value, { value });
    expect(back.map.get('a')).toBe(1);
    expect([...back.set]).toEqual([1, 2]);
    expect(back.date.getTime()).toBe(0);
    expect(back.big).toBe(2n ** 70n);
    expect([...back.bytes]).toEqual([1, 2, 3]);
    expect(back.floats).toBeInstanceOf(Float64Array);
    expect(back.floats.length).toBe(100_000);
    expect(back.floats[99_999]).toBe(1.5);
    expect(back.cyclic.self).toBe(back.cyclic);
  });

  it('imports Node built-ins and packages resolvable from the working directory', async () => {
    const out = await mirai(async () => {
      const os = await import('node:os');
      const nats = await import('@nats-io/transport-node');
      return { platform: os.platform(), connect: typeof nats.connect };
    });
    expect(out).toEqual({ platform: process.platform, connect: 'function' });
    // A module imported by a task sees it runs on a daemon.
    expect(await mirai(fromModule('./test/helpers/fixtures/tasks.mjs', 'whereAmI'))).toEqual({ onDaemon: true });
  });

  it('runs an exported function of a module file', async () => {
    const fn = fromModule('./test/helpers/fixtures/tasks.mjs', 'scale');
    expect(await mirai(fn, { x: 21, by: 2 })).toBe(42);
  });

  it('keeps the remote error: name, message, stack, cause, own properties', async () => {
    const m = mirai(() => {
      const err = new RangeError('out of range', { cause: new TypeError('inner') });
      (err as RangeError & { code: string }).code = 'E_X';
      throw err;
    });
    const err = await m.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMiraiError(err)).toBe(true);
    expect(isErrorValue(m.data)).toBe(true);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toBeInstanceOf(MiraiError);
    const e = err as TaskError & { code: string };
    expect(e.name).toBe('RangeError');
    expect(e.message).toBe('out of range');
    expect(e.code).toBe('E_X');
    expect(e.kind).toBe('task');
    expect(e.stack).toContain('out of range');
    // The task's own frames, named after it, without the daemon's machinery below them.
    expect(e.stack).toMatch(/at .*mirai-task\.js:\d+:\d+/);
    expect(e.stack).not.toMatch(/DaemonRun|FrameDecoder/);
    expect((e.cause as Error).message).toBe('inner');
    expect((e.cause as Error).name).toBe('TypeError');
    expect(e.remoteClass).toEqual(['RangeError', 'Error']);
  });

  it('names a free variable the function was not given', async () => {
    const outside = 1;
    // The function uses `outside` from this scope: not captured, so it fails on the daemon.
    const err = (await mirai(() => outside + 1).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('ReferenceError');
    expect(err.message).toMatch(/'outside'.*not given/);
  });

  it('reports a non-Error throw', async () => {
    const err = (await mirai(() => {
      throw 'plain string';
    }).catch((e: unknown) => e)) as MiraiError & { thrown: unknown };
    expect(err.message).toContain('"plain string"');
    expect(err.thrown).toBe('plain string');
  });

  it('refuses arguments that cannot be serialized, naming where they sit, and sends nothing', async () => {
    // A mirai is a promise: its value travels, once awaited, not the mirai.
    const earlier = mirai(() => 1);
    expect(() => mirai(({ m }) => m, { m: earlier })).toThrow(/Cannot serialize args\.m: a mirai \(await it and pass its value\)/);
    expect(() => mirai(({ p }) => p, { p: Promise.resolve(1) })).toThrow(/Cannot serialize args\.p: a promise \(await it/);
    await earlier;
    const before = status()!.daemons.reduce((n, d) => n + d.assigned, 0);
    // @ts-expect-error functions and symbols in args do not compile; the run-time check is tested here
    expect(() => mirai(() => 1, { db: { handle: () => 0 } })).toThrow(SerializationError);
    try {
      // @ts-expect-error as above
      mirai(() => 1, { db: { sym: Symbol('s') } });
    } catch (err) {
      expect((err as SerializationError).path).toBe('args.db.sym');
      expect((err as Error).message).toContain('args.db.sym');
    }
    const file = await open(import.meta.filename);
    try {
      expect(() => mirai(() => 1, { file })).toThrow(/Cannot serialize args\.file: a FileHandle object/);
    } finally {
      await file.close();
    }
    expect(status()!.daemons.reduce((n, d) => n + d.assigned, 0)).toBe(before);
  });

  it('settles a result that cannot be serialized with a typed error', async () => {
    const err = (await mirai(() => () => 1).catch((e: unknown) => e)) as MiraiError;
    expect(err.name).toBe('SerializationError');
    expect(err.message).toContain('result');
  });

  it('runs function source that went through esbuild keepNames', async () => {
    // esbuild --keep-names rewrites `const f = () => 1` into `const f = __name(() => 1, "f")`.
    const fn = new Function('return function task() { const f = __name(() => 41, "f"); return f() + 1; }')() as () => number;
    expect(await mirai(fn)).toBe(42);
  });

  it('shows its state when printed', async () => {
    const m = mirai(async () => {
      await new Promise((r) => setTimeout(r, 100));
      return 'done';
    });
    expect(inspect(m)).toMatch(/<pending>/);
    await m;
    expect(inspect(m)).toContain("'done'");
  });

  it('is a native promise: await, Promise.all and then() take it as one', async () => {
    const m = mirai(() => 7);
    expect(types.isPromise(m)).toBe(true);
    // What lets V8 take it as is instead of wrapping it as a foreign thenable: its constructor
    // reads as Promise, and its then is Promise's own (an override, even one that only adds
    // types, would send every await and Promise.all back through a call into JavaScript).
    expect(m.constructor).toBe(Promise);
    expect(m.then).toBe(Promise.prototype.then);
    expect(m.catch).toBe(Promise.prototype.catch);
    expect(m.promise()).toBe(m);
    const doubled = m.then((v) => v * 2);
    expect(types.isPromise(doubled)).toBe(true);
    expect(doubled).not.toBeInstanceOf(Mirai);
    expect(await doubled).toBe(14);
    expect(await Promise.all([m, mirai(() => 8)])).toEqual([7, 8]);
    expect(await m.promise()).toBe(7);
    // Promise's statics would make a mirai from an executor: refused with a clear error.
    expect(() => Mirai.resolve(1)).toThrow(ConfigError);
    expect(() => Mirai.all([m])).toThrow(/made by mirai\(\)/);
  });

  it('is no unhandled rejection when it fails while nobody awaits it: the error waits in data', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', listener);
    try {
      const m = mirai(() => {
        throw new Error('nobody awaits this');
      });
      while (unresolved(m)) await new Promise((r) => setTimeout(r, 5));
      // Unhandled rejections are reported after the turn that settled the promise.
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      expect(m.data).toBeInstanceOf(TaskError);
      await expect(m).rejects.toThrow('nobody awaits this');
      // Promises derived from it behave as usual: this one's rejection is handled here.
      await expect(m.then(() => 'never')).rejects.toBeInstanceOf(TaskError);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });

  it('maps over an array and collects values flat', async () => {
    expect(await miraiMap([1, 2, 3], (x: number) => x * 2).flat()).toEqual([2, 4, 6]);
  });

  it('counts tasks in status and info', async () => {
    const before = info()!.completed;
    await Promise.all([mirai(() => 1), mirai(() => 2)]);
    const after = info()!;
    expect(after.completed).toBe(before + 2);
    expect(after.connections).toBe(2);
    expect(after.awaiting).toBe(0);
    expect(after.executing).toBe(0);
    const s = status()!;
    expect(s.url).toMatch(/^(ipc|abstract):\/\//);
    expect(s.daemons).toHaveLength(2);
    expect(s.daemons.every((d) => d.state === 'idle' && d.tasks.length === 0)).toBe(true);
    expect(JSON.stringify(s)).not.toMatch(/secret/i);
  });
});
