/**
 * Every option and count a user passes is checked: a ConfigError naming the option, the value
 * as given and what is expected; unknown keys refused with "did you mean". Also the smaller
 * parity items: everywhere({ min }), status() queue limits, tcp://:0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  collectMirai,
  ConfigError,
  ConnectionResetError,
  daemons,
  everywhere,
  fromModule,
  hostUrl,
  raceMirai,
  stopMirai,
  withDaemons,
  launchLocal,
  launchRemote,
  localUrl,
  mirai,
  miraiMap,
  remoteConfig,
  status,
  type DaemonsOptions,
} from '@mirai-ts/core';
import { wsTransport } from '@mirai-ts/transport-ws';

afterEach(async () => {
  await daemons(0);
  delete process.env.MIRAI_TEST_WORKERS;
});

/** Runs `call` and returns the ConfigError it throws or rejects with. */
async function configError(call: () => unknown): Promise<ConfigError> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const bad = (options: Record<string, unknown>): DaemonsOptions => options as DaemonsOptions;

describe('daemons(n)', () => {
  it('daemons() and daemons(undefined) say to call daemons(0); daemons(null) resets like mirai', async () => {
    expect((await configError(() => (daemons as unknown as () => Promise<void>)())).message).toMatch(/n is missing.*daemons\(0\) to reset/);
    expect((await configError(() => daemons(undefined as unknown as number))).message).toMatch(/unset process\.env/);
    await daemons(1);
    expect(status()?.connections).toBe(1);
    await daemons(null);
    expect(status()).toBeUndefined();
  });

  it('refuses strings (process.env), booleans, byte arrays and huge counts, starting nothing', async () => {
    process.env.MIRAI_TEST_WORKERS = '2';
    const fromEnv = await configError(() => daemons(process.env.MIRAI_TEST_WORKERS as unknown as number));
    expect(fromEnv.message).toMatch(/got the string '2'.*process\.env.*Number\(process\.env/);
    expect((await configError(() => daemons(true as unknown as number))).message).toMatch(/whole number ≥ 0, got true/);
    expect((await configError(() => daemons(new Uint8Array([2]) as unknown as number))).message).toMatch(/got a Uint8Array\(1\)/);
    expect((await configError(() => daemons(2 ** 53))).message).toMatch(/at most 10000 per call, got 9007199254740992/);
    expect((await configError(() => daemons(1.5))).message).toMatch(/got 1\.5/);
    expect(status()).toBeUndefined();
  });

  it('checks every option, naming it, the value and what is expected', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ dispatcher: '' }, /option 'dispatcher' must be a boolean \(true or false\), got '' \(a string\)/],
      [{ dispatcher: 'yes' }, /'dispatcher'.*got 'yes'/],
      [{ dispatcher: null }, /'dispatcher'.*got null/],
      [{ dispatcher: 0 }, /'dispatcher'.*got 0/],
      [{ sync: 'no' }, /option 'sync' must be a boolean/],
      [{ repair: 'yes' }, /option 'repair' must be a boolean/],
      [{ launchTimeout: 'abc' }, /option 'launchTimeout' must be a number of milliseconds > 0.*got 'abc'/],
      [{ handshakeTimeout: 'abc' }, /option 'handshakeTimeout'.*got 'abc'/],
      [{ maxQueuedBytes: NaN }, /option 'maxQueuedBytes' must be a whole number ≥ 1 \(or Infinity\), got NaN/],
      [{ maxQueuedBytes: 0.5 }, /option 'maxQueuedBytes' must be a whole number ≥ 1 \(or Infinity\), got 0.5/],
      [{ maxQueued: 2.5 }, /option 'maxQueued' must be a whole number ≥ 1.*got 2\.5/],
      [{ autoexit: 'yes' }, /option 'autoexit' must be one of true, false, 'finish'/],
      [{ maxtask: 3 }, /unknown option 'maxtask'; did you mean 'maxtasks'\?/],
      [{ spin: -1 }, /option 'spin' must be a number of µs from 0 to 1000, got -1$/],
      [{ spin: 5_000 }, /option 'spin' must be a number of µs from 0 to 1000, got 5000$/],
      [{ spin: '50' }, /option 'spin' must be a number of µs from 0 to 1000, got '50' \(a string\)$/],
      [{ dispatch: true }, /did you mean 'dispatcher'\?/],
      [{ totallyUnknown: 1 }, /unknown option 'totallyUnknown' \(known: /],
    ];
    for (const [options, message] of cases) {
      const err = await configError(() => daemons(1, bad(options)));
      expect(err.message, JSON.stringify(options)).toMatch(message);
      expect(err.message).toMatch(/^daemons\(\): /);
    }
    expect((await configError(() => daemons(bad({ url: localUrl(), maxtask: 1 })))).message).toMatch(/did you mean 'maxtasks'/);
    expect(status()).toBeUndefined();
  });

  it('options are plain objects: inherited keys and getters, which the checks would not see, are refused; so are Object.prototype names', async () => {
    class Opts {
      get timeout(): string {
        return '50';
      }
    }
    expect((await configError(() => mirai(() => 1, undefined, new Opts() as never))).message).toMatch(/options must be a plain object \(\{ \.\.\. \}\), got a Opts/);
    expect((await configError(() => daemons(1, Object.create({ maxtasks: 0 }) as DaemonsOptions))).message).toMatch(/options must be a plain object/);
    expect((await configError(() => mirai(() => 1, undefined, { valueOf: 1 } as never))).message).toMatch(/unknown option 'valueOf'/);
    expect((await configError(() => mirai(() => 1, undefined, JSON.parse('{"__proto__": 1}') as never))).message).toMatch(/unknown option '__proto__'/);
    // A null prototype is a plain object too.
    expect(await mirai(() => 2, undefined, Object.assign(Object.create(null), { timeout: 5_000 }) as never)).toBe(2);
  });

  it('the helpers check their arguments too: fromModule, localUrl/hostUrl, collect/race/stop, profile names', async () => {
    const refused: [() => unknown, RegExp][] = [
      [() => fromModule(5 as never), /fromModule\(specifier, exportName\): specifier must be a module path, URL or package name, got 5/],
      [() => fromModule(''), /specifier must be/],
      [() => fromModule('./m.js', 5 as never), /exportName must be the name of an exported function, got 5/],
      [() => localUrl({ tcp: true, port: 70_000 }), /localUrl\(\): option 'port' must be a port from 0 \(any free one\) to 65535, got 70000/],
      [() => localUrl({ port: 80 }), /port needs tcp: true/],
      [() => localUrl({ bogus: 1 } as never), /unknown option 'bogus'/],
      [() => hostUrl({ port: Number.NaN }), /option 'port' must be a port .*got NaN/],
      [() => hostUrl({ tsl: true } as never), /unknown option 'tsl'; did you mean 'tls'\?/],
      // A plain promise has no settled state to read: raceMirai answered 0 at once.
      [() => raceMirai([new Promise(() => {})] as never), /raceMirai\(list\): list\[0\] is not a mirai but a Promise/],
      [() => collectMirai([1, 2] as never), /collectMirai\(list\): list\[0\] is not a mirai but 1/],
      [() => stopMirai(5 as never), /stopMirai\(x\): x must be a mirai, a map or an array of them, got 5/],
      [() => status(5 as never), /profile must be a non-empty string \(a profile's name\), got 5/],
      [() => withDaemons('', () => 1), /profile must be a non-empty string/],
      [() => withDaemons('x', 5 as never), /withDaemons\(profile, fn\): fn must be a function, got 5/],
      [() => remoteConfig({ command: '  ' }), /remoteConfig: 'command' must be a non-empty string, got '  ' \(a string\)/],
      [() => remoteConfig({ command: 'ssh', args: ['.', 5] as never }), /'args' must hold strings \(or arrays of strings\), got 5 among them/],
      [() => daemons(null, { terminate: false }), /daemons\(null\) tells every daemon to exit, so terminate: false contradicts it/],
    ];
    for (const [call, message] of refused) expect((await configError(call)).message, String(call)).toMatch(message);
  });

  it('a sync profile refuses the options it would ignore, and a task that is not a function', async () => {
    for (const [key, value] of [['url', 'tcp://127.0.0.1:1'], ['maxResultBytes', 5], ['maxQueued', 5], ['idletime', 1_000]] as const) {
      const err = await configError(() => daemons({ sync: true, [key]: value } as DaemonsOptions));
      expect(err.message).toMatch(new RegExp(`option '${key}' has no effect on a sync profile`));
    }
    await daemons({ sync: true, seed: 7 });
    expect((await configError(() => mirai('not a function' as never))).message).toMatch(/fn must be a function or fromModule\(\.\.\.\), got string/);
    expect(await mirai(() => 'fine')).toBe('fine');
  });

  it('a call refused for its settings leaves the running profile as it was: its running task finishes', async () => {
    const twin = { tag: 'twin', claims: () => false, encode: () => ({ buffers: [] }), decode: () => null };
    await daemons(1);
    const running = mirai(() => new Promise((r) => setTimeout(() => r('finished'), 500)));
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ url: 'foo://x' }, /foo/],
      [{ prefetch: 4, dispatcher: false }, /prefetch/],
      [{ autoscale: { min: 3, max: 1 } }, /min/],
      [{ instrumentation: [{}] }, /instrumentation/],
      // Checked before the reset too: the launcher's shape, the transport's listen and dial
      // options (a typo would fall back to zero-config TLS), core's own limits, JSON dial options.
      [{ launcher: {} }, /option 'launcher' must be a launcher: an object with a launch\(\) function/],
      [{ url: 'tls+tcp://127.0.0.1:0', listenOptions: { cert: 'not a certificate', key: 'nor a key' } }, /TLS listen options: the certificate or key is unusable/],
      [{ url: 'tls+tcp://127.0.0.1:0', listenOptions: { certFile: '/etc/cert.pem', keyFile: '/etc/key.pem' } }, /tls\+tcp:\/\/ listen options: unknown option 'certFile'/],
      [{ url: 'tls+tcp://127.0.0.1:0', dialOptions: { servername: 5 } }, /TLS dial option 'servername' must be a host name/],
      [{ listenOptions: { cert: 'x' } }, /ipc:\/\/ takes no listen options, got 'cert'/],
      [{ listenOptions: { handshakeLimits: 5 } }, /'handshakeLimits' is core's own/],
      [{ dialOptions: { limits: 5 } }, /'limits' is core's own/],
      [{ dialOptions: { x: () => 1 } }, /dialOptions: option 'x' must be JSON/],
      // A plugin transport's own check (ws), asked before the reset as well.
      [{ url: 'ws://127.0.0.1:0/x', transports: [wsTransport()], listenOptions: { hearbeatMs: 5 } }, /unknown option 'hearbeatMs'.*did you mean 'heartbeatMs'/],
      [{ transports: [5] }, /option 'transports' must be an array of transports; element \[0\] is not a transport/],
      [{ transport: {} }, /option 'transport' must be a transport: an object with schemes/],
      [{ serializers: [5] }, /element \[0\] is not a serializer/],
      [{ serializers: [twin, twin] }, /serializers with distinct tags \(two have the tag 'twin'\)/],
      [{ secret: 'read-from-a-file\n' }, /option 'secret' must be a secret without surrounding whitespace or line breaks, got a string of 17 characters \(not shown\)/],
      [{ secret: '   ' }, /option 'secret' must be a secret/],
    ];
    for (const [options, message] of refused) {
      const err = await configError(() => (options.autoscale ? daemons(bad(options)) : daemons(2, bad(options))));
      expect(err.message, JSON.stringify(options)).toMatch(message);
      expect(status()?.connections, JSON.stringify(options)).toBe(1);
    }
    expect(await running).toBe('finished');
  });

  it('tcp://:0 is refused with the URL to write instead', async () => {
    const err = await configError(() => daemons(1, { url: 'tcp://:0' }));
    expect(err.message).toMatch(/'tcp:\/\/:0' has no host: to listen on every interface write tcp:\/\/0\.0\.0\.0:0/);
  });
});

describe('the options of the other calls', () => {
  it('mirai(), miraiMap() and everywhere()', async () => {
    expect((await configError(() => mirai(() => 1, undefined, { timout: 10 } as never))).message).toMatch(/^mirai\(\): unknown option 'timout'; did you mean 'timeout'\?/);
    expect((await configError(() => mirai(() => 1, undefined, { timeout: '100' } as never))).message).toMatch(/option 'timeout'.*got '100' \(a string\)/);
    expect((await configError(() => mirai(() => 1, undefined, { retry: -1 }))).message).toMatch(/option 'retry' must be a whole number ≥ 0, got -1/);
    expect((await configError(() => mirai(() => 1, undefined, null as never))).message).toMatch(/options must be an object, got null/);
    await daemons(1);
    expect((await configError(() => miraiMap([1], (x: number) => x, { arg: 2 } as never))).message).toMatch(/^miraiMap\(\): unknown option 'arg'; did you mean 'args'\?/);
    expect((await configError(() => everywhere(() => 1, undefined, { mn: 2 } as never))).message).toMatch(/^everywhere\(\): unknown option 'mn'; did you mean 'min'\?/);
    expect((await configError(() => everywhere(() => 1, undefined, { min: -1 }))).message).toMatch(/option 'min' must be a whole number ≥ 0, got -1/);
  });

  it('launchLocal(), launchRemote() and remoteConfig()', async () => {
    await daemons({ url: localUrl() });
    expect((await configError(() => launchLocal('2' as unknown as number))).message).toMatch(/^launchLocal\(n\): n must be a number, got the string '2'/);
    expect((await configError(() => launchLocal(1, { maxtask: 2 } as never))).message).toMatch(/^launchLocal\(\): unknown option 'maxtask'; did you mean 'maxtasks'\?/);
    expect((await configError(() => launchLocal(1, { idletime: 'abc' } as never))).message).toMatch(/option 'idletime' must be a number of milliseconds > 0 and ≤ 2147483647, or Infinity/);
    expect((await configError(() => launchRemote(0))).message).toMatch(/whole number ≥ 1, got 0/);
    expect((await configError(() => launchRemote(1, {} as never))).message).toMatch(/remote must be a launcher/);
    expect((await configError(() => remoteConfig({ comand: 'ssh' } as never))).message).toMatch(/^remoteConfig\(\): unknown option 'comand'; did you mean 'command'\?/);
    expect((await configError(() => remoteConfig({ quote: 'yes' } as never))).message).toMatch(/option 'quote' must be a boolean/);
    expect((await configError(() => remoteConfig({ secret: 'file' } as never))).message).toMatch(/option 'secret' must be one of 'stdin', 'env', 'inline'/);
    expect((await configError(() => remoteConfig({ command: 'ssh', quote: true, endWithStdin: 1 } as never))).message).toMatch(/option 'endWithStdin' must be a boolean/);
    const needs = /remoteConfig: endWithStdin needs a command, quote: true and secret: 'stdin'/;
    expect((await configError(() => remoteConfig({ command: 'srun', args: ['.'], endWithStdin: true }))).message).toMatch(new RegExp(`${needs.source}.*got quote: false, secret: 'env'$`));
    expect((await configError(() => remoteConfig({ command: 'ssh', args: ['h', '.'], quote: true, secret: 'env', endWithStdin: true }))).message).toMatch(/got quote: true, secret: 'env'$/);
    expect((await configError(() => remoteConfig({ endWithStdin: true }))).message).toMatch(new RegExp(`${needs.source}.*got no command$`));
    // With it, the daemon command reads stdin to its end instead of replacing the shell (exec).
    const spec = { url: 'tcp://127.0.0.1:5555', secret: 's', options: {}, profile: 'p' };
    const [line] = remoteConfig({ command: 'ssh', args: ['h', '.'], quote: true, endWithStdin: true }).commands!(spec, 1);
    const [plain] = remoteConfig({ command: 'ssh', args: ['h', '.'], quote: true }).commands!(spec, 1);
    expect(line).toContain('--exit-on-stdin-eof');
    expect(plain).not.toContain('--exit-on-stdin-eof');
    expect(plain).toMatch(/exec '?node/);
    expect(line).not.toMatch(/exec '?node/);
    expect(status()?.connections).toBe(0);
  });
});

describe('everywhere({ min }) and status() limits', () => {
  it('waits until min daemons, counting later ones, have run it', async () => {
    await daemons({ url: localUrl() });
    let settled = false;
    const run = everywhere((_a: undefined, ctx) => ctx.daemonId, undefined, { min: 2 }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await launchLocal(2);
    const ids = await run;
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('a reset ends the wait with a ConnectionResetError', async () => {
    await daemons({ url: localUrl() });
    const run = everywhere(() => 1, undefined, { min: 3 });
    await daemons(0);
    await expect(run).rejects.toBeInstanceOf(ConnectionResetError);
  });

  it('status() reports maxQueued and maxQueuedBytes beside the queued figures', async () => {
    await daemons({ url: localUrl(), maxQueued: 5, maxQueuedBytes: 1e6 });
    expect(status()).toMatchObject({ maxQueued: 5, maxQueuedBytes: 1e6, awaiting: 0, queuedBytes: 0 });
    await daemons({ url: localUrl() });
    expect(status()).toMatchObject({ maxQueued: Infinity, maxQueuedBytes: Infinity });
  });
});
