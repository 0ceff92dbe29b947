/**
 * Serializer failures on real daemons: a serializer a daemon cannot load, one that throws
 * on either side, and a version mismatch. Each fails only the tasks carrying its values,
 * with a typed error naming the serializer (or package) and the value's path; the daemons
 * keep serving everything else.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  daemons,
  DeserializationError,
  info,
  isMiraiError,
  mirai,
  SerializationError,
  status,
  type MiraiError,
  type Serializer,
} from '@mirai-ts/core';
import { Box, boxSerializer } from '../helpers/fixtures/serializers.mjs';

const FIXTURES = pathToFileURL(fileURLToPath(new URL('../helpers/fixtures/serializers.mjs', import.meta.url))).href;

const errorOf = (p: PromiseLike<unknown>): Promise<MiraiError> =>
  Promise.resolve(p).then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: MiraiError) => e,
  );

/** A box serializer whose ref sends daemons somewhere else. */
const withRef = (ref: Serializer['ref']): Serializer => ({ ...(boxSerializer() as Serializer), ref });

/** Echo tasks that carry no box: they must all succeed beside a failing one. */
const bystanders = (n: number) => Array.from({ length: n }, (_, i) => mirai(({ i }: { i: number }) => i * 2, { i }, { timeout: 20_000 }));

async function expectDaemonsServe(pids: readonly (number | undefined)[]): Promise<void> {
  const results = await Promise.all(bystanders(6));
  expect(results).toEqual([0, 2, 4, 6, 8, 10]);
  expect(info()!.connections).toBe(2);
  expect(status()!.daemons.map((d) => d.pid).sort()).toEqual([...pids].sort());
}

describe('serializer failures harm only the tasks that carry their values', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it.each([
    ['a package that does not exist', { specifier: '@mirai-ts/no-such-serializer', exportName: 'boxSerializer' }, /'@mirai-ts\/no-such-serializer'/],
    ['an export that does not exist', { specifier: FIXTURES, exportName: 'noSuchExport' }, /no exported function 'noSuchExport'/],
    ['an export that is not a factory', { specifier: FIXTURES, exportName: 'notAFactory' }, /no exported function 'notAFactory'/],
  ])('a daemon that cannot load %s fails only the tasks needing it, naming the package', async (_what, ref, detail) => {
    await daemons(2, { serializers: [withRef(ref)] });
    const pids = status()!.daemons.map((d) => d.pid);
    const others = bystanders(4);
    const err = await errorOf(mirai(({ b }: { b: unknown }) => b, { b: { deep: [new Box('x')] } }, { timeout: 20_000 }));
    expect(isMiraiError(err)).toBe(true);
    expect(err.name).toBe('DeserializationError');
    expect(err.message).toContain(`package '${ref.specifier}'`);
    expect(err.message).toContain("serializer 'fixture.box'");
    expect(err.message).toContain('args.b.deep[0]');
    expect(err.message).toMatch(detail);
    expect(await Promise.all(others)).toEqual([0, 2, 4, 6]);
    await expectDaemonsServe(pids);
  });

  it('a daemon whose copy of the package makes another tag refuses its values (version mismatch)', async () => {
    await daemons(2, { serializers: [boxSerializer({ daemonTag: 'fixture.box/2' }) as Serializer] });
    const pids = status()!.daemons.map((d) => d.pid);
    const err = await errorOf(mirai(({ b }: { b: unknown }) => b, { b: new Box('v') }, { timeout: 20_000 }));
    expect(err.message).toContain("tag 'fixture.box/2' here but 'fixture.box' on the host");
    expect(err.message).toContain('args.b');
    await expectDaemonsServe(pids);
  });

  it('an encoder that throws on the host: SerializationError naming serializer and path, nothing sent', async () => {
    await daemons(2, { serializers: [boxSerializer({ fail: { op: 'encode', on: 'host' } }) as Serializer] });
    const pids = status()!.daemons.map((d) => d.pid);
    let err: unknown;
    try {
      mirai(({ v }: { v: unknown }) => v, { v: { list: [1, new Box('bad')] } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as SerializationError).path).toBe('args.v.list[1]');
    expect((err as Error).message).toContain("serializer 'fixture.box' failed to encode args.v.list[1]");
    expect((err as Error).message).toContain("fixture encode failure for box 'bad'");
    expect(info()!.completed).toBe(0);
    await expectDaemonsServe(pids);
  });

  it('an async encoder that rejects on the host: the mirai rejects with a SerializationError', async () => {
    await daemons(2, { serializers: [boxSerializer({ fail: { op: 'encode', on: 'host' }, async: true }) as Serializer] });
    const err = await errorOf(mirai(({ v }: { v: unknown }) => v, { v: new Box('later') }));
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as SerializationError).path).toBe('args.v');
  });

  it('a decoder that throws on the daemon: a typed error naming serializer and path; the daemon keeps serving', async () => {
    await daemons(2, { serializers: [boxSerializer({ fail: { op: 'decode', on: 'daemon' } }) as Serializer] });
    const pids = status()!.daemons.map((d) => d.pid);
    const others = bystanders(4);
    const err = await errorOf(mirai(({ m }: { m: unknown }) => m, { m: new Map([['k', new Box('x')]]) }, { timeout: 20_000 }));
    expect(err.name).toBe('DeserializationError');
    expect(err).toBeInstanceOf(DeserializationError); // rebuilt as the same class on the host
    expect(err.message).toContain(`serializer 'fixture.box' failed to decode args.m.get("k"): fixture decode failure`);
    expect(await Promise.all(others)).toEqual([0, 2, 4, 6]);
    await expectDaemonsServe(pids);
  });

  it('an encoder that throws on the daemon (a result): a typed error naming serializer and path', async () => {
    await daemons(2, { serializers: [boxSerializer({ fail: { op: 'encode', on: 'daemon' } }) as Serializer] });
    const pids = status()!.daemons.map((d) => d.pid);
    const err = await errorOf(
      mirai(
        async ({ url }: { url: string }) => {
          const { Box } = await import(url);
          return { made: [new Box('on the daemon')] };
        },
        { url: FIXTURES },
        { timeout: 20_000 },
      ),
    );
    expect(err.name).toBe('SerializationError');
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as SerializationError).path).toBe('result.made[0]');
    expect(err.message).toContain("serializer 'fixture.box' failed to encode result.made[0]");
    await expectDaemonsServe(pids);
  });

  it('a decoder that throws on the host (a result): DeserializationError naming serializer and path', async () => {
    await daemons(2, { serializers: [boxSerializer({ fail: { op: 'decode', on: 'host' }, async: true }) as Serializer] });
    const pids = status()!.daemons.map((d) => d.pid);
    const others = bystanders(4);
    const err = await errorOf(mirai(({ b }: { b: unknown }) => ({ echoed: b }), { b: new Box('round') }, { timeout: 20_000 }));
    expect(err).toBeInstanceOf(DeserializationError);
    expect(err.message).toContain("serializer 'fixture.box' failed to decode result.echoed: fixture decode failure");
    expect(await Promise.all(others)).toEqual([0, 2, 4, 6]);
    await expectDaemonsServe(pids);
  });

  it('a working fixture serializer round-trips its class through daemons (control)', async () => {
    await daemons(2, { serializers: [boxSerializer({ async: true }) as Serializer] });
    const back = await mirai(
      async ({ b, url }: { b: unknown; url: string }) => {
        const { Box } = await import(url);
        return { isBox: b instanceof Box, label: (b as { label: string }).label, box: b };
      },
      { b: new Box('ok'), url: FIXTURES },
      { timeout: 20_000 },
    );
    expect(back.isBox).toBe(true);
    expect(back.label).toBe('ok');
    expect(back.box).toBeInstanceOf(Box);
  });
});
