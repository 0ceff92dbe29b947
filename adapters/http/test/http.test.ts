// The helpers on real servers (node:http, Express, Fastify) on 127.0.0.1 with real daemons:
// work runs on daemons, a client disconnect cancels it, a full queue answers 503.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, status, type TaskContext } from '@mirai-ts/core';
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

type Route = 'who' | 'slow' | 'fails' | 'none';
interface Args {
  n: number;
  ms: number;
  marker?: string;
  tight: boolean;
}
function argsFromUrl(url: string | undefined): Args {
  const q = new URL(url ?? '/', 'http://x').searchParams;
  if (q.has('bad')) throw Object.assign(new Error('n must be a number'), { status: 400 });
  const marker = q.get('marker') ?? undefined;
  return { n: Number(q.get('n') ?? 1), ms: Number(q.get('ms') ?? 0), tight: q.has('tight'), ...(marker ? { marker } : {}) };
}

/** One server per helper, each with the same four routes. */
interface Harness {
  url: string;
  close: () => Promise<void>;
}
const servers: Record<string, (opts: (r: Route, tight?: boolean) => OffloadOptions | undefined) => Promise<Harness>> = {
  'node:http': async (opts) => {
    const handlers = {
      who: miraiHandler(whoAmI, (req) => argsFromUrl(req.url), opts('who')),
      slow: miraiHandler(slow, (req) => argsFromUrl(req.url), opts('slow')),
      slowTight: miraiHandler(slow, (req) => argsFromUrl(req.url), opts('slow', true)),
      fails: miraiHandler(fails, () => undefined, opts('fails')),
      none: miraiHandler(whoAmI, (req) => argsFromUrl(req.url), opts('none')),
    };
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.slice(1) as Route;
      const tight = req.url?.includes('tight') && path === 'slow';
      void (tight ? handlers.slowTight : handlers[path])(req, res);
    });
    return listen(server);
  },
  express: async (opts) => {
    const app = express();
    app.get('/who', expressHandler(whoAmI, (req: IncomingMessage) => argsFromUrl(req.url), opts('who')));
    app.get('/slow', (req, res, next) => {
      const tight = req.url.includes('tight');
      return expressHandler(slow, (r: IncomingMessage) => argsFromUrl(r.url), opts('slow', tight))(req, res, next);
    });
    app.get('/fails', expressHandler(fails, () => undefined, opts('fails')));
    app.get('/none', expressHandler(whoAmI, (req: IncomingMessage) => argsFromUrl(req.url), opts('none')));
    // Express's own error path gets what argsOf threw (here: a 400 carried on the error).
    app.use((err: { status?: number; message: string }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(err.status ?? 500).json({ fromExpress: err.message });
    });
    return listen(createServer(app));
  },
  fastify: async (opts) => {
    const app = Fastify();
    const argsOf = (request: { raw: IncomingMessage }) => argsFromUrl(request.raw.url);
    app.get('/who', fastifyHandler(whoAmI, argsOf, opts('who')));
    const slowHandler = fastifyHandler(slow, argsOf, opts('slow'));
    const slowTight = fastifyHandler(slow, argsOf, opts('slow', true));
    app.get('/slow', (request, reply) => (request.url.includes('tight') ? slowTight : slowHandler)(request, reply));
    app.get('/fails', fastifyHandler(fails, () => undefined, opts('fails')));
    app.get('/none', fastifyHandler(whoAmI, argsOf, opts('none')));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
};

async function listen(server: Server): Promise<Harness> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const options = (route: Route, tight = false): OffloadOptions | undefined => {
  if (route === 'none') return { profile: EMPTY, retryAfter: 7 };
  if (tight) return { profile: TIGHT, retryAfter: 3 };
  if (route === 'slow') return { timeout: 5_000 };
  return undefined;
};

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

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mirai-http-'));
  await daemons(2);
  await daemons(1, { profile: TIGHT, maxQueued: 1 });
});
afterAll(async () => {
  await daemons(0, { profile: TIGHT });
  await daemons(0);
  rmSync(dir, { recursive: true, force: true });
});

describe.each(Object.keys(servers))('%s', (name) => {
  let h: Harness;
  beforeAll(async () => {
    h = await servers[name]!(options);
  });
  afterAll(() => h.close());

  it("runs the route's work on a daemon and answers its value as JSON", async () => {
    const res = await fetch(`${h.url}/who?n=21`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { pid: number; double: number };
    expect(body.double).toBe(42);
    expect(body.pid).not.toBe(process.pid);
  });

  it('cancels the running task when the client disconnects', async () => {
    const marker = join(dir, `${name.replace(':', '-')}-marker`);
    const before = status()!.completed;
    await abandon(`${h.url}/slow?ms=1500&marker=${encodeURIComponent(marker)}`, 300);
    // The daemon's context.signal aborted, and the task never got to write its marker.
    await waitFor(() => existsSync(`${marker}.aborted`), 3_000);
    await sleep(1_700);
    expect(existsSync(marker)).toBe(false);
    expect(status()!.completed).toBe(before); // cancelled, not completed
  });

  it('answers 503 with Retry-After when the queue is full', async () => {
    const [first, second] = [join(dir, `${name.replace(':', '-')}-a`), join(dir, `${name.replace(':', '-')}-b`)];
    const running = abandon(`${h.url}/slow?tight&ms=3000&marker=${first}`, 1_500);
    await sleep(150);
    const queued = abandon(`${h.url}/slow?tight&ms=3000&marker=${second}`, 1_350);
    await sleep(150);
    const res = await fetch(`${h.url}/slow?tight&ms=10`);
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
    const res = await fetch(`${h.url}/none`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({ error: 'NoDaemonsError' });
  });

  it("answers 500 for a task's own error without its message", async () => {
    const res = await fetch(`${h.url}/fails`);
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(JSON.stringify(body)).not.toContain('secret internals');
  });

  it('keeps the status an argsOf error carries', async () => {
    const res = await fetch(`${h.url}/who?bad`);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('n must be a number');
  });
});

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(25);
  }
}
