/** URL parsing, option validation and message packing: no server needed. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@mirai-ts/core';
import { natsTransport, NatsTransportError, parseNatsUrl } from '@mirai-ts/transport-nats';
import { DATA_HEADER_BYTES, packData } from '../src/wire.js';

describe('NATS URLs', () => {
  it('turns the path into the scope of every subject', () => {
    const a = parseNatsUrl('nats://127.0.0.1:4222/analytics');
    expect(a.server).toBe('nats://127.0.0.1:4222');
    expect(a.scope).toBe('analytics');
    expect(a.subjects.connect).toBe('mirai.analytics.connect');
    expect(a.subjects.toHost('abc')).toBe('mirai.analytics.c.abc.h');
    expect(a.subjects.toDaemon('abc')).toBe('mirai.analytics.c.abc.d');
    expect(a.subjects.toHostWildcard).toBe('mirai.analytics.c.*.h');
    expect(a.subjects.idOf('mirai.analytics.c.abc.h')).toBe('abc');
    expect(a.subjects.idOf('mirai.other.c.abc.h')).toBeUndefined();
    const nested = parseNatsUrl('nats://nats.example:5000/team/analytics', 'acme.jobs');
    expect(nested.subjects.connect).toBe('acme.jobs.team.analytics.connect');
    expect(parseNatsUrl('nats://localhost').scope).toBe('default');
    expect(parseNatsUrl('nats://localhost').server).toBe('nats://localhost:4222');
  });

  it('rejects bad URLs with a ConfigError naming the problem', () => {
    expect(() => parseNatsUrl('tcp://127.0.0.1:1/x')).toThrow(ConfigError);
    expect(() => parseNatsUrl('nats://127.0.0.1/a.b')).toThrow(/invalid scope 'a.b'/);
    expect(() => parseNatsUrl('nats://127.0.0.1/a*')).toThrow(/invalid scope/);
    expect(() => parseNatsUrl('nats://127.0.0.1/x?y=1')).toThrow(/query/);
    expect(() => parseNatsUrl('nats://127.0.0.1/x', 'bad prefix')).toThrow(/prefix/);
    const err = (() => {
      try {
        parseNatsUrl('nats://user:topsecret@127.0.0.1/x');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toMatch(/credentials must not be in the URL/);
    expect(err!.message).not.toContain('topsecret');
  });
});

describe('natsTransport options', () => {
  it('carries its options in a plugin reference daemons can import', () => {
    const t = natsTransport({ user: 'u', passFile: '/etc/p', tls: { caFile: '/ca.pem' }, heartbeatMs: 500 });
    expect(t.schemes).toEqual(['nats']);
    expect(t.ref).toEqual({
      specifier: '@mirai-ts/transport-nats',
      exportName: 'natsTransport',
      options: { user: 'u', passFile: '/etc/p', tls: { caFile: '/ca.pem' }, heartbeatMs: 500 },
    });
    expect(JSON.parse(JSON.stringify(t.ref))).toEqual(t.ref);
  });

  it('rejects unknown options and wrong types with a ConfigError', () => {
    expect(() => natsTransport({ usr: 'x' } as never)).toThrow(/^natsTransport\(options\): unknown option 'usr'; did you mean 'user'\? \(known: prefix, user, /);
    expect(() => natsTransport({ heartbeatMs: -1 })).toThrow("natsTransport(options): option 'heartbeatMs' must be a whole number of milliseconds from 1 to 2147483647, got -1");
    expect(() => natsTransport({ heartbeatMs: '500' as never })).toThrow("option 'heartbeatMs' must be a whole number of milliseconds from 1 to 2147483647, got '500' (a string)");
    expect(() => natsTransport({ user: 7 as never })).toThrow("natsTransport(options): option 'user' must be a non-empty string, got 7");
    expect(() => natsTransport({ tls: { caFiel: 'x' } as never })).toThrow(/^natsTransport\(options\): tls: unknown option 'caFiel'; did you mean 'caFile'\?/);
    expect(() => natsTransport({ tls: 'yes' as never })).toThrow("option 'tls' must be true, false or an object, got 'yes' (a string)");
    expect(() => natsTransport({ pass: 'x' })).toThrow(/a password needs 'user'/);
    expect(() => natsTransport({ token: 'a', tokenFile: 'b' })).toThrow(/not both/);
    expect(() => natsTransport('x' as never)).toThrow(ConfigError);
  });

  it('numbers must be whole and in range: timers a Node timer can hold, messages of at least 1 KiB', () => {
    const ms = 'a whole number of milliseconds from 1 to 2147483647';
    // Above 2^31 - 1 ms, a Node timer fires after 1 ms: a heartbeat every millisecond.
    for (const key of ['heartbeatMs', 'peerTimeoutMs', 'reconnectTimeoutMs', 'connectTimeoutMs'] as const) {
      expect(() => natsTransport({ [key]: 2 ** 31 })).toThrow(`natsTransport(options): option '${key}' must be ${ms}, got 2147483648`);
      expect(() => natsTransport({ [key]: 1.5 })).toThrow(`option '${key}' must be ${ms}, got 1.5`);
      expect(() => natsTransport({ [key]: Number.NaN })).toThrow(`option '${key}' must be ${ms}, got NaN`);
      expect(() => natsTransport({ [key]: 0 })).toThrow(ConfigError);
      expect(natsTransport({ [key]: 2 ** 31 - 1 }).options[key]).toBe(2 ** 31 - 1);
    }
    // 9 bytes left no room for data after the header: the first send looped forever.
    const bytes = 'a whole number of bytes from 1024 to 67108864';
    expect(() => natsTransport({ maxMessageBytes: 9 })).toThrow(`natsTransport(options): option 'maxMessageBytes' must be ${bytes}, got 9`);
    expect(() => natsTransport({ maxMessageBytes: 1023 })).toThrow(`got 1023`);
    expect(() => natsTransport({ maxMessageBytes: 4096.5 })).toThrow(`option 'maxMessageBytes' must be ${bytes}, got 4096.5`);
    expect(() => natsTransport({ maxMessageBytes: Infinity })).toThrow(ConfigError);
    expect(natsTransport({ maxMessageBytes: 1024 }).options.maxMessageBytes).toBe(1024);
  });

  it('never shows a secret in a message, only what kind of value it was', () => {
    const message = (options: unknown): string => {
      try {
        natsTransport(options as never);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('no error');
    };
    expect(message({ user: 'u', pass: 918273 })).toBe("natsTransport(options): option 'pass' must be a non-empty string, got a number (not shown: a secret)");
    expect(message({ token: '' })).toBe("natsTransport(options): option 'token' must be a non-empty string, got an empty string (not shown: a secret)");
    expect(message({ nkeySeed: ['SUACSSL3'] })).not.toContain('SUACSSL3');
    expect(message({ tls: { key: { pem: 'PRIVATE-KEY-BYTES' } } })).toBe("natsTransport(options): option 'tls.key' must be a string, got an object (not shown: a secret)");
  });
});

describe('Data messages', () => {
  it('cut a gather-write frame into pieces of at most the limit, bytes in order', () => {
    const chunks = [Uint8Array.from([1, 2, 3]), Uint8Array.from({ length: 10 }, (_, i) => 10 + i), Uint8Array.from([99])];
    const messages = packData(chunks, 4);
    expect(messages.map((m) => m.length - DATA_HEADER_BYTES)).toEqual([4, 4, 4, 2]);
    const stream = Buffer.concat(messages.map((m) => m.subarray(DATA_HEADER_BYTES)));
    expect([...stream]).toEqual([1, 2, 3, ...Array.from({ length: 10 }, (_, i) => 10 + i), 99]);
    expect(messages.every((m) => m[0] === 1)).toBe(true);
  });

  it('refuse a size that is not a whole number >= 1 instead of looping', () => {
    const chunks = [new Uint8Array(100)];
    for (const size of [0, -1, 1e-7, 1.5, Number.NaN, Infinity]) expect(() => packData(chunks, size), String(size)).toThrow(NatsTransportError);
    expect(packData(chunks, 1)).toHaveLength(100);
  });
});
