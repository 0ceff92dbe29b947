/**
 * `httpConfig()` against a real job API: an HTTP server on 127.0.0.1, started here, that
 * runs each command it receives (`sh -c`), so the daemons really join and run tasks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, daemons, httpConfig, LaunchError, miraiMap, status, type HttpConfigOptions } from '@mirai-ts/core';
import { processesWithArgv, testSecret } from './support.js';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Answer = { status: number; body: string } | 'hang' | 'run';

/** A minimal job API: records each request, then answers as `answer` says ('run': start the command). */
async function startJobApi(answer: (req: Received) => Answer = () => 'run') {
  const received: Received[] = [];
  const children: ChildProcess[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const rec = { method: req.method!, path: req.url!, headers: req.headers, body };
      received.push(rec);
      const a = answer(rec);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      if (a !== 'run') {
        res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body);
        return;
      }
      const { cmd } = JSON.parse(body) as { cmd: string };
      const child = spawn('/bin/sh', ['-c', cmd], { stdio: 'ignore' });
      children.push(child);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ job: child.pid }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/jobs`;
  return {
    url,
    received,
    async close(): Promise<void> {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              process.kill(child.pid!, 'SIGKILL');
            }),
        ),
      );
    },
  };
}

const DATA = '{"image": "node:20", "cmd": "%s"}';

describe('httpConfig: daemons started through an HTTP API', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await daemons(0);
    for (const c of cleanups.splice(0)) await c();
  });

  it('starts one daemon per request with fresh credentials; the daemons join and run a map', async () => {
    const api = await startJobApi();
    cleanups.push(api.close);
    const secret = testSecret();
    let tokens = 0;
    let cookies = 0;
    const launcher = httpConfig({
      url: api.url,
      token: () => `token-${++tokens}`,
      cookie: async () => `session=${++cookies}`,
      headers: { 'x-team': 'analytics' },
      data: DATA,
    });
    const handle = await daemons(2, { url: 'tcp://127.0.0.1:0', launcher, secret });
    expect(handle.connections).toBe(2);
    expect(await miraiMap([1, 2, 3, 4, 5, 6], (x: number) => x * 10)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(new Set(status()!.daemons.map((d) => d.pid)).size).toBe(2);

    expect(tokens).toBe(2);
    expect(cookies).toBe(2);
    expect(api.received.map((r) => r.method)).toEqual(['POST', 'POST']);
    expect(api.received.map((r) => r.headers.authorization).sort()).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(api.received.map((r) => r.headers.cookie).sort()).toEqual(['session=1', 'session=2']);
    expect(api.received.every((r) => r.headers['x-team'] === 'analytics' && r.headers['content-type'] === 'application/json')).toBe(true);
    const bodies = api.received.map((r) => JSON.parse(r.body) as { image: string; cmd: string });
    expect(bodies.every((b) => b.image === 'node:20')).toBe(true);
    // The documented trade-off: the command carries the secret (the API runs it elsewhere) ...
    expect(bodies.every((b) => b.cmd.includes(`MIRAI_SECRET=${secret} `) && b.cmd.includes(' exec '))).toBe(true);
    // ... but no daemon has it in its argv once the shell has exec'd node.
    expect(processesWithArgv(secret)).toEqual([]);
    // One launch id per daemon, so the host can tell them apart and end them on reset.
    const ids = bodies.map((b) => /MIRAI_LAUNCH_ID=(\S+)/.exec(b.cmd)?.[1]);
    expect(new Set(ids).size).toBe(2);
  }, 60_000);

  it('a non-2xx answer is a LaunchError with the status and the body, the secret and token redacted', async () => {
    // An API that echoes the request in its error, as many do.
    const api = await startJobApi((req) => ({ status: 422, body: `invalid job spec: ${req.body} (auth ${req.headers.authorization})` }));
    cleanups.push(api.close);
    const secret = testSecret();
    const token = `tok-${testSecret()}`;
    const err = await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig({ url: api.url, token, data: DATA }), secret }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    const message = (err as Error).message;
    expect(message).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/v1\/jobs answered 422/);
    expect(message).toContain('invalid job spec');
    expect(message).toContain('MIRAI_SECRET=');
    expect(message).toContain('<secret>');
    expect(message).not.toContain(secret);
    expect(message).not.toContain(token);
    expect(String((err as Error).stack)).not.toContain(secret);
  });

  it('a long error body is cut', async () => {
    const api = await startJobApi(() => ({ status: 503, body: 'x'.repeat(5000) }));
    cleanups.push(api.close);
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig({ url: api.url }) }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toMatch(/answered 503/);
    expect(err.message).toContain('(5000 characters)');
    expect(err.message.length).toBeLessThan(1000);
  });

  it('a request that gets no answer fails with a LaunchError after the timeout', async () => {
    const api = await startJobApi(() => 'hang');
    cleanups.push(api.close);
    const started = Date.now();
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig({ url: api.url, timeout: 400 }) }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toMatch(/did not answer within 400 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(api.received.length).toBe(1);
  });

  it('an option function that never settles fails the request at its timeout, within the launch timeout', async () => {
    // The request timer runs from before the option functions are called.
    const api = await startJobApi();
    cleanups.push(api.close);
    const started = Date.now();
    const launcher = httpConfig({ url: api.url, timeout: 300, token: () => new Promise<string>(() => {}) });
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher, launchTimeout: 60_000 }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toBe(`httpConfig: the option functions did not return within 300 ms (the 'timeout' option)`);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(api.received.length).toBe(0);
  });

  it('an error answer that echoes the body hides the secret in the shell-quoted form it has there', async () => {
    const api = await startJobApi((req) => ({ status: 400, body: `bad request: ${req.body}` }));
    cleanups.push(api.close);
    // A quote in the secret: the command carries it as 'a'\''b', which the plain secret does not match.
    const secret = `s3cr3t'part-${testSecret()}`;
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig({ url: api.url }), secret }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toContain('MIRAI_SECRET=<secret> ');
    expect(err.message).not.toContain(secret.split("'")[1]);
  });

  it('a token or cookie HTTP cannot carry is a ConfigError that does not show it, fixed or from a function', async () => {
    const shown = async (options: Partial<HttpConfigOptions>): Promise<Error> => {
      let launcher;
      try {
        launcher = httpConfig({ url: 'http://127.0.0.1:9/jobs', timeout: 1000, ...options });
      } catch (err) {
        return err as Error;
      }
      return (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher }).catch((e: unknown) => e)) as Error;
    };
    const cases: [Partial<HttpConfigOptions>, RegExp][] = [
      [{ token: 'tok-SUPERSECRET-1\nx' }, /^httpConfig: 'token' must be one line/],
      [{ cookie: 'session=SUPERSECRET-2\0' }, /^httpConfig: 'cookie' must be one line/],
      [{ token: () => 'tok-SUPERSECRET-3\rX' }, /httpConfig: 'token' must be one line/],
      [{ cookie: async () => 'session=SUPERSECRET-4\u20ac' }, /httpConfig: 'cookie' must hold only Latin-1 characters/],
    ];
    for (const [options, expected] of cases) {
      const err = await shown(options);
      expect(err.message).toMatch(expected);
      expect(err.message).not.toContain('SUPERSECRET');
      expect(err instanceof ConfigError || (err instanceof LaunchError && err.cause instanceof ConfigError)).toBe(true);
      await daemons(0);
    }
  });

  it('nothing listening at the URL is a LaunchError naming the endpoint', async () => {
    const api = await startJobApi();
    const url = api.url;
    await api.close();
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig({ url }) }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toContain(`POST ${url} failed`);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a credential function that throws is a LaunchError; it is called again at the next launch', async () => {
    const api = await startJobApi();
    cleanups.push(api.close);
    let calls = 0;
    const launcher = httpConfig({
      url: api.url,
      data: DATA,
      token: () => {
        calls++;
        if (calls === 1) throw new Error('vault unreachable');
        return 'fresh';
      },
    });
    const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toContain('vault unreachable');
    await daemons(1, { url: 'tcp://127.0.0.1:0', launcher });
    expect(calls).toBe(2);
    expect(api.received.at(-1)!.headers.authorization).toBe('Bearer fresh');
  }, 30_000);

  it('checks its options', () => {
    const bad = (options: unknown): string => {
      try {
        httpConfig(options as HttpConfigOptions);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(options)}`);
    };
    expect(bad(undefined)).toMatch(/must be an object/);
    expect(bad({})).toMatch(/'url' is required/);
    expect(bad({ url: 'https://api.example.org', tokn: 'x' })).toMatch(/unknown option 'tokn'; did you mean 'token'\?/);
    expect(bad({ url: 42 })).toMatch(/'url' must be a non-empty string or a function/);
    expect(bad({ url: 'not a url' })).toMatch(/'url' is not a URL/);
    expect(bad({ url: 'ftp://api.example.org' })).toMatch(/must be https/);
    expect(bad({ url: 'http://api.example.org/jobs' })).toMatch(/refusing plain http:\/\/ to api\.example\.org.*allowHttp/);
    expect(bad({ url: 'https://user:pw@api.example.org' })).toMatch(/not in the URL/);
    expect(bad({ url: 'https://api.example.org', data: '{"cmd": "run"}' })).toMatch(/placeholder '%s' exactly once/);
    expect(bad({ url: 'https://api.example.org', data: '%s %s' })).toMatch(/exactly once/);
    expect(bad({ url: 'https://api.example.org', timeout: Number.NaN })).toMatch(/'timeout' must be a number of milliseconds > 0.*, got NaN/);
    expect(bad({ url: 'https://api.example.org', timeout: '5000' })).toMatch(/'timeout'.*got '5000' \(a string\)/);
    expect(bad({ url: 'https://api.example.org', headers: { a: 1 } })).toMatch(/header 'a' must be a string/);
    // Refused here, not by fetch at launch time; the value is never shown (headers carry credentials).
    expect(bad({ url: 'https://api.example.org', headers: { 'bad name': 'x' } })).toMatch(/header name "bad name" is not an HTTP token/);
    const injected = bad({ url: 'https://api.example.org', headers: { Authorization: 'Bearer s3cret\r\nX-Injected: 1' } });
    expect(injected).toMatch(/header 'Authorization' must be one line/);
    expect(injected).not.toContain('s3cret');
    expect(bad({ url: 'https://api.example.org', allowHttp: 'yes' })).toMatch(/'allowHttp' must be a boolean \(true or false\)/);
    expect(bad({ url: 'https://api.example.org', token: '' })).toMatch(/'token' must be a non-empty string/);
    // Accepted: loopback over http, http anywhere with allowHttp, functions for every value.
    expect(httpConfig({ url: 'http://localhost:9/x' }).kind).toBe('http');
    expect(httpConfig({ url: 'http://[::1]:9/x' }).kind).toBe('http');
    expect(httpConfig({ url: 'http://10.0.0.5/x', allowHttp: true }).kind).toBe('http');
    expect(httpConfig({ url: () => 'https://x', method: () => 'PUT', data: async () => '%s', token: () => 't' }).kind).toBe('http');
  });

  it('values from functions are checked at launch: GET, a missing placeholder, http:// elsewhere', async () => {
    // daemons() reports a launcher's error as a LaunchError whose cause is the ConfigError.
    const launch = async (options: HttpConfigOptions): Promise<Error> => {
      const err = (await daemons(1, { url: 'tcp://127.0.0.1:0', launcher: httpConfig(options) }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(LaunchError);
      expect(err.cause).toBeInstanceOf(ConfigError);
      return err;
    };
    expect((await launch({ url: 'https://127.0.0.1:9/x', method: () => 'GET' })).message).toMatch(/method GET cannot carry/);
    expect((await launch({ url: 'https://127.0.0.1:9/x', data: () => '{}' })).message).toMatch(/placeholder/);
    expect((await launch({ url: async () => 'http://api.example.org/x' })).message).toMatch(/refusing plain http/);
  });

  it('commands() shows the daemon command without the secret', async () => {
    const launcher = httpConfig({ url: 'https://api.example.org/jobs' });
    const [line] = launcher.commands!({ url: 'tcp://10.0.0.1:5555', secret: 'never-shown-1234', options: {}, profile: 'default' }, 1);
    expect(line).toContain("MIRAI_SECRET='<secret>'");
    expect(line).toContain('tcp://10.0.0.1:5555');
    expect(line).not.toContain('never-shown-1234');
  });
});
