/** Error records: what a daemon sends is checked before it becomes an error on the host. */
import { describe, expect, it } from 'vitest';
import { DeserializationError, TaskError, TimeoutError } from '../../src/errors.js';
import { fromErrorRecord, toErrorRecord } from '../../src/wire/error-record.js';

describe('error records', () => {
  it('rebuilds a thrown error with its name, message and own properties', () => {
    const err = Object.assign(new RangeError('too big'), { code: 'E_BIG' });
    const back = fromErrorRecord(toErrorRecord(err, () => true));
    expect(back).toBeInstanceOf(TaskError);
    expect(back.name).toBe('RangeError');
    expect((back as unknown as { code: string }).code).toBe('E_BIG');
  });

  it('makes a MiraiError the task threw (a nested mirai() timing out) the cause of a TaskError', () => {
    const back = fromErrorRecord(toErrorRecord(new TimeoutError(50), () => true));
    expect(back).toBeInstanceOf(TaskError);
    expect(back.cause).toBeInstanceOf(TimeoutError);
    expect((back.cause as TimeoutError).errorValue).toBe(5);
  });

  it('refuses records that are not records', () => {
    for (const bad of [null, 'x', 42, [], { message: 7 }, { message: 'm', miraiKind: 'bogus' }, { message: 'm', cause: 'no' }]) {
      expect(fromErrorRecord(bad)).toBeInstanceOf(DeserializationError);
    }
  });

  it('drops prototype keys and reserved names from props', () => {
    const record = { name: 'Error', message: 'm', classes: [], props: JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1, "kind": "timeout", "ok": 2}') };
    const back = fromErrorRecord(record);
    expect(back).toBeInstanceOf(TaskError);
    expect(Object.getPrototypeOf(back)).toBe(TaskError.prototype);
    expect((back as unknown as Record<string, unknown>).polluted).toBeUndefined();
    expect(back.kind).toBe('task');
    expect((back as unknown as { ok: number }).ok).toBe(2);
  });

  it('cuts a cause that points to itself', () => {
    const record: Record<string, unknown> = { name: 'Error', message: 'loop', classes: [], props: {} };
    record.cause = record;
    const back = fromErrorRecord(record);
    let depth = 0;
    for (let e: unknown = back; e instanceof Error; e = e.cause) depth++;
    expect(depth).toBeLessThanOrEqual(10);
  });

  it('describes an error whose message getter throws instead of failing', () => {
    const evil = new Error('x');
    Object.defineProperty(evil, 'message', { get: () => { throw new Error('gotcha'); } });
    const record = toErrorRecord(evil, () => true);
    expect(record.message).toMatch(/could not be read/);
  });
});

describe('a MiraiError a task got from mirai-ts itself', () => {
  it('comes back as the cause of a TaskError, in its own class, with its own frames', async () => {
    const { ConfigError, NoDaemonsError } = await import('../../src/errors.js');
    const { checkCount } = await import('../../src/options-check.js');
    let inner = new ConfigError('placeholder');
    try {
      checkCount('daemons(n)', '2', 0); // thrown inside the package, as a nested daemons('2') would be
    } catch (err) {
      inner = err as InstanceType<typeof ConfigError>;
    }
    // Its frames are in this package (on a daemon, in the daemon's copy, which a task's own
    // error would have cut): a MiraiError keeps them all. The e2e test checks the daemon side.
    const ownFrames = (inner.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
    expect(ownFrames.length).toBeGreaterThan(0);
    const back = fromErrorRecord(toErrorRecord(inner, () => true));
    expect(back).toBeInstanceOf(TaskError);
    expect(back.cause).toBeInstanceOf(ConfigError);
    expect((back.cause as Error).stack).toBe(inner.stack);
    const noDaemons = fromErrorRecord(toErrorRecord(new NoDaemonsError('gpu'), () => true)).cause as InstanceType<typeof NoDaemonsError>;
    expect(noDaemons).toBeInstanceOf(NoDaemonsError);
    expect(noDaemons.profile).toBe('gpu');
  });
});
