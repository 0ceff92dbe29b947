// The helpers on real servers (node:http, Express, Fastify) on 127.0.0.1 with real daemons:
// work runs on daemons, a client disconnect cancels it (pipelined requests too), a full queue
// answers 503, and every failure gets the adapter's own JSON answer, the same from each helper.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, status, type TaskContext, type TaskFunction } from '@mirai-ts/core';
import { expressHandler, fastifyHandler, miraiHandler, type OffloadOptions } from '@mirai-ts/http';

const TIGHT = 'http-tight'; // one daemon, at most one queued task
const EMPTY = 'http-none'; // a profile nobody started

// Task functions travel as source: everything they use is in their args or imported.
const whoAmI = ({ n }: { n: number }) => ({ pid: process.pid, double: n * 2 });
const slow = async ({ ms, marker }: { ms: number; marker?: string }, context: TaskContext) => {
  const fs = await import('node:fs');
  context.signal.addEventListener('abort', () => marker && fs.writeFileSync(`${marker}.aborted`, 'aborted'));
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (marker) fs.writeFileSync(marker, 'finished'); // reached only if the task was not stopped
  return ms;
};
const fails = () => {
  throw new RangeError('secret internals');
};

interface Args {
  n: number;
  ms: number;
  marker?: string;
}
function argsFromUrl(url: string | undefined): Args {
  const q = new URL(url ?? '/', 'http://x').searchParams;
  if (q.has('bad')) throw Object.assign(new Error('n must be a number'), { status: 400 });
  const marker = q.get('marker') ?? undefined;
  return { n: Number(q.get('n') ?? 1), ms: Number(q.get('ms') ?? 0), ...(marker ? { marker } : {}) };
}
const noArgs = () => undefined;
const argsFail = () => {
  throw new Error('secret argsOf internals');
};
/** How often the throwing onError below was called. */
let throwingHookCalls = 0;

/** A route every server serves the same way: the task, its args from the URL, the options. */
interface RouteSpec {
  readonly fn: TaskFunction<any, unknown>; // any: each route's task takes its own argument type
  readonly args: (url: string | undefined) => unknown;
  readonly options?: OffloadOptions;
}
const ROUTES: Record<string, RouteSpec> = {
  who: { fn: whoAmI, args: argsFromUrl },
  slow: { fn: slow, args: argsFromUrl, options: { timeout: 5_000 } },
  'slow-tight': { fn: slow, args: argsFromUrl, options: { profile: TIGHT, retryAfter: 3 } }, // one daemon, one queued
  fails: { fn: fails, args: noArgs },
  none: { fn: whoAmI, args: argsFromUrl, options: { profile: EMPTY, retryAfter: 7 } },
  // Values a daemon sends back fine but JSON cannot hold.
  bigint: { fn: () => ({ big: 2n ** 70n }), args: noArgs },
  'bigint-exposed': { fn: () => ({ big: 2n ** 70n }), args: noArgs, options: { exposeErrors: true } },
  cycle: {
    fn: () => {
      const loop: { self?: unknown } = {};
      loop.self = loop;
      return loop;
    },
    args: noArgs,
  },
  // Values Fastify would not send as JSON on its own (text/plain, raw bytes).
  text: { fn: () => 'a "quoted" string', args: noArgs },
  bytes: { fn: () => new Uint8Array([1, 2, 255]), args: noArgs },
  'args-fail': { fn: whoAmI, args: argsFail },
  'args-fail-exposed': { fn: whoAmI, args: argsFail, options: { exposeErrors: true } },
  'hook-throws': {
    fn: fails,
    args: noArgs,
    options: {
      onError: () => {
        throwingHookCalls++;
        throw new Error('the logger is down');
      },
    },
  },
};

/** One server per helper, each with every route of ROUTES at /<name>. */
interface Harness {
  url: string;
  server: Server;
  close: () => Promise<void>;
}
const servers: Record<string, () => Promise<Harness>> = {
  'node:http': async () => {
    const handlers = new Map(Object.entries(ROUTES).map(([name, r]) => [`/${name}`, miraiHandler(r.fn, (req) => r.args(req.url), r.options)]));
    const server = createServer((req, res) => {
      const handler = handlers.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (handler) void handler(req, res);
      else res.writeHead(404).end();
    });
    return listen(server);
  },
  express: async () => {
    // No error middleware: whatever reached next(err) would get Express's default answer, a stack trace.
    const app = express();
    for (const [name, r] of Object.entries(ROUTES)) {
      app.get(`/${name}`, expressHandler(r.fn, (req: IncomingMessage) => r.args(req.url), r.options));
    }
    return listen(createServer(app));
  },
  fastify: async () => {
    const app = Fastify();
    for (const [name, r] of Object.entries(ROUTES)) {
      app.get(`/${name}`, fastifyHandler(r.fn, (request: { raw: IncomingMessage }) => r.args(request.raw.url), r.options));
    }
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, server: app.server, close: () => app.close() };
  },
};

async function listen(server: Server): Promise<Harness> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A GET that gives up after 10 s: a server that never answers fails the test, not the run. */
const get = (url: string): Promise<Response> => fetch(url, { signal: AbortSignal.timeout(10_000) });

/** Starts a GET and destroys its socket after `afterMs`: a client that gives up. */
function abandon(url: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url);
    req.on('error', () => resolve()); // the socket hang-up we cause
    req.on('response', () => resolve());
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, afterMs);
  });
}

/**
 * Writes a GET for each of `paths` on one raw socket at once (HTTP/1.1 pipelining: every
 * request sent before any answer), then destroys the socket after `afterMs`.
 */
async function pipelineThenLeave(url: string, paths: readonly string[], afterMs: number): Promise<void> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined); // the reset we cause
  await once(socket, 'connect');
  socket.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''));
  await sleep(afterMs);
  socket.destroy();
}

/** GETs `url` through `agent` and reads the whole answer. */
function getVia(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

let dir: string;
/** node:http's answers, which the other helpers must match byte for byte. */
let reference: Harness;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mirai-http-'));
  await daemons(2);
  await daemons(1, { profile: TIGHT, maxQueued: 1 });
  reference = await servers['node:http']!();
});
afterAll(async () => {
  await reference.close();
  await daemons(0, { profile: TIGHT });
  await daemons(0);
  rmSync(dir, { recursive: true, force: true });
});

describe.each(Object.keys(servers))('%s', (name) => {
  const slug = name.replace(':', '-');
  let h: Harness;
  beforeAll(async () => {
    h = await servers[name]!();
  });
  afterAll(() => h.close());

  it("runs the route's work on a daemon and answers its value as JSON", async () => {
    const res = await get(`${h.url}/who?n=21`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { pid: number; double: number };
    expect(body.double).toBe(42);
    expect(body.pid).not.toBe(process.pid);
  });

  it.each([
    ['text', '"a \\"quoted\\" string"'],
    ['bytes', undefined], // however a Uint8Array comes back from the daemon: as node:http writes it
  ])('answers a %s value as the same JSON as node:http', async (route, expected) => {
    const [res, ref] = await Promise.all([get(`${h.url}/${route}`), get(`${reference.url}/${route}`)]);
    const [body, refBody] = await Promise.all([res.text(), ref.text()]);
    if (expected !== undefined) expect(refBody).toBe(expected);
    expect(() => JSON.parse(refBody)).not.toThrow();
    expect(ref.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(ref.headers.get('content-type'));
    expect(body).toBe(refBody);
  });

  it('cancels the running task when the client disconnects', async () => {
    const marker = join(dir, `${slug}-marker`);
    const before = status()!.completed;
    await abandon(`${h.url}/slow?ms=1500&marker=${encodeURIComponent(marker)}`, 300);
    // The daemon's context.signal aborted, and the task never got to write its marker.
    await waitFor(() => existsSync(`${marker}.aborted`), 3_000);
    await sleep(1_700);
    expect(existsSync(marker)).toBe(false);
    expect(status()!.completed).toBe(before); // cancelled, not completed
  });

  it('cancels pipelined requests waiting behind another when the client disconnects', async () => {
    const markers = [1, 2, 3].map((i) => join(dir, `${slug}-pipelined-${i}`));
    await pipelineThenLeave(
      h.url,
      markers.map((marker) => `/slow?ms=1500&marker=${encodeURIComponent(marker)}`),
      400,
    );
    // Tasks 1 and 2 run on the two daemons (2's response queued behind 1's on the socket) and
    // both see their signal abort; task 3 (queued for a daemon, its response behind 2's) is
    // cancelled too. None runs to its end.
    await waitFor(() => existsSync(`${markers[0]}.aborted`) && existsSync(`${markers[1]}.aborted`), 3_000);
    await waitFor(() => status()!.executing === 0 && status()!.awaiting === 0, 3_000);
    await sleep(1_700);
    for (const marker of markers) expect(existsSync(marker)).toBe(false);
  });

  it("leaves a keep-alive socket's 'close' listeners as they were, request after request", async () => {
    const sockets: Socket[] = [];
    let baseline = -1;
    const onConnection = (socket: Socket): void => {
      sockets.push(socket);
      baseline = socket.listenerCount('close'); // the server's own, before any request
    };
    h.server.on('connection', onConnection);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 12; i++) expect(await getVia(agent, `${h.url}/who?n=${i}`)).toBe(200);
      expect(sockets).toHaveLength(1); // every request came on the one socket
      // One listener per request left behind would make it baseline + 12 for good.
      await waitFor(() => sockets[0]!.listenerCount('close') === baseline, 2_000);
    } finally {
      agent.destroy();
      h.server.off('connection', onConnection);
    }
  });

  it("adds one 'close' listener to a socket however many requests are pipelined on it", async () => {
    const accepted = once(h.server, 'connection') as Promise<[Socket]>;
    const client = connect(Number(new URL(h.url).port), '127.0.0.1');
    const [socket] = await accepted;
    const baseline = socket.listenerCount('close');
    let most = baseline;
    socket.on('newListener', (event) => {
      if (event === 'close') most = Math.max(most, socket.listenerCount('close') + 1);
    });
    let received = '';
    client.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    try {
      client.write(Array.from({ length: 12 }, () => 'GET /slow?ms=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n').join(''));
      await waitFor(() => received.split('HTTP/1.1 200').length - 1 === 12, 10_000);
      // Node's own listener for the response being written, and ours for all that wait: with
      // one per waiting response, Node would warn of a leak past ten.
      expect(most).toBeLessThanOrEqual(baseline + 2);
      await waitFor(() => socket.listenerCount('close') === baseline, 2_000);
    } finally {
      client.destroy();
    }
  });

  it('answers 503 with Retry-After when the queue is full', async () => {
    const [first, second] = [join(dir, `${slug}-a`), join(dir, `${slug}-b`)];
    const running = abandon(`${h.url}/slow-tight?ms=3000&marker=${first}`, 1_500);
    await sleep(150);
    const queued = abandon(`${h.url}/slow-tight?ms=3000&marker=${second}`, 1_350);
    await sleep(150);
    const res = await get(`${h.url}/slow-tight?ms=10`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toMatchObject({ error: 'QueueFullError' });
    expect(status(TIGHT)).toMatchObject({ executing: 1, awaiting: 1 });
    await Promise.all([running, queued]); // both clients leave: both tasks are cancelled
    await waitFor(() => existsSync(`${first}.aborted`), 3_000);
    // Had the queued task not been cancelled, it would now run for 3 s.
    await waitFor(() => status(TIGHT)!.executing === 0 && status(TIGHT)!.awaiting === 0, 1_000);
    expect(existsSync(first)).toBe(false);
    expect(existsSync(second)).toBe(false);
  });

  it('answers 503 with Retry-After when the profile has no daemons', async () => {
    const res = await get(`${h.url}/none`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({ error: 'NoDaemonsError' });
  });

  it("answers 500 for a task's own error without its message", async () => {
    const res = await get(`${h.url}/fails`);
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(JSON.stringify(body)).not.toContain('secret internals');
  });

  it('keeps the status an argsOf error carries', async () => {
    const res = await get(`${h.url}/who?bad`);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('n must be a number');
  });

  it("answers another argsOf error with the adapter's 500, its message only with exposeErrors", async () => {
    const hidden = await get(`${h.url}/args-fail`);
    expect(hidden.status).toBe(500);
    expect(hidden.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await hidden.json()).toEqual({ error: 'Error' });
    const exposed = await get(`${h.url}/args-fail-exposed`);
    expect(exposed.status).toBe(500);
    expect(await exposed.json()).toEqual({ error: 'Error', message: 'secret argsOf internals' });
  });

  it('answers 500 SerializationError for a value JSON cannot hold, and keeps serving', async () => {
    for (const route of ['bigint', 'cycle']) {
      const res = await get(`${h.url}/${route}`);
      expect(res.status, route).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({ error: 'SerializationError' });
    }
    const exposed = await get(`${h.url}/bigint-exposed`);
    expect(exposed.status).toBe(500);
    expect(await exposed.json()).toMatchObject({ error: 'SerializationError', message: expect.stringMatching(/JSON.*BigInt/) });
    expect((await get(`${h.url}/who?n=2`)).status).toBe(200); // the server is still up
  });

  it('answers as usual when onError throws, and warns', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const calls = throwingHookCalls;
      const res = await get(`${h.url}/hook-throws`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'RangeError' }); // the task's error, as without onError
      expect(throwingHookCalls).toBe(calls + 1);
      await waitFor(() => warnings.some((w) => w.includes('onError threw') && w.includes('the logger is down')), 2_000);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('node:http when writing the answer fails', () => {
  it('answers 500 and reports the error instead of rejecting', async () => {
    const reported: unknown[] = [];
    const handler = miraiHandler(whoAmI, () => ({ n: 2 }), { onError: (error) => reported.push(error) });
    const server = createServer((req, res) => {
      // The first writeHead throws, as a write can fail for reasons outside the adapter.
      const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse;
      let failed = false;
      (res as { writeHead: (...args: unknown[]) => ServerResponse }).writeHead = (...args) => {
        if (failed) return writeHead.apply(res, args);
        failed = true;
        throw new Error('cannot write the head');
      };
      void handler(req, res);
    });
    const h = await listen(server);
    try {
      const res = await get(`${h.url}/`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'Error' });
      expect(reported).toEqual([expect.objectContaining({ message: 'cannot write the head' })]);
    } finally {
      await h.close();
    }
  });
});

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(25);
  }
}
