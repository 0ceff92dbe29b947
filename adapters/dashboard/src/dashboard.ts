/**
 * `dashboard()`: an HTTP server with one static page and a server-sent events stream of
 * {@link Snapshot}s. Bound to 127.0.0.1 by default, where it answers only requests addressed to
 * a loopback name (a web page that rebinds its own host name to 127.0.0.1 cannot read it);
 * bound to any other address it requires a random token, given in the URL it returns.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@mirai-ts/core';
import { checkOptions, is, type OptionRules } from '@mirai-ts/core/plugin';
import { DashboardState } from './state.js';

/** Options of {@link dashboard}. */
export interface DashboardOptions {
  /** Port to listen on (default 0: a free one). */
  readonly port?: number;
  /** Address to bind (default `127.0.0.1`). Any other address requires the URL's token. */
  readonly host?: string;
  /** Profiles set before the dashboard started, to show at once (default `['default']`). */
  readonly profiles?: readonly string[];
  /** How often pages are updated at most, in ms (default 250). */
  readonly interval?: number;
}

/** A running dashboard. */
export interface Dashboard extends AsyncDisposable {
  /** Open this in a browser (it carries the token when one is needed). */
  readonly url: string;
  close(): Promise<void>;
}

/** What each option may be, checked as core checks its own (the option, the value, what is expected). */
const DASHBOARD_RULES: OptionRules = {
  port: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? undefined : 'a whole number from 0 to 65535 (0: a free port)'),
  host: is.string,
  profiles: (v) => (Array.isArray(v) && v.every((p) => typeof p === 'string' && p !== '') ? undefined : 'an array of profile names'),
  interval: (v) => (typeof v === 'number' && v >= 10 && v <= 3_600_000 ? undefined : 'a number of milliseconds from 10 to 3600000'),
};
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** Host names a request to a loopback-bound dashboard may be addressed to (as in the Host header). */
const LOOPBACK_HOSTNAMES = new Set(['127.0.0.1', '[::1]', 'localhost']);
/**
 * Bytes a page's event stream may have waiting unsent: a page that stops reading (a suspended
 * tab, a stalled network) is dropped past it, and its EventSource reconnects when it can,
 * instead of the host buffering every push for it.
 */
export const MAX_STREAM_BACKLOG = 1 << 20;
/** Event streams served at once: each costs the host a snapshot's encoding per push. */
export const MAX_STREAMS = 64;

/** Serves a live page of every profile's daemons, queue, throughput, task timeline and failures. */
export async function dashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  checkOptions('dashboard()', options, DASHBOARD_RULES);
  const { port = 0, host = '127.0.0.1', profiles = ['default'], interval = 250 } = options;
  const token = LOOPBACK.has(host) ? undefined : randomBytes(18).toString('base64url');
  const page = await readFile(new URL('../static/index.html', import.meta.url), 'utf8');

  const state = new DashboardState();
  state.adopt(profiles);
  const streams = new Set<ServerResponse>();
  let pending: NodeJS.Timeout | undefined;
  const push = (): void => {
    pending = undefined;
    const data = `data: ${JSON.stringify(state.snapshot())}\n\n`;
    for (const res of streams) {
      if (res.writableLength > MAX_STREAM_BACKLOG) {
        streams.delete(res);
        res.destroy();
      } else {
        res.write(data);
      }
    }
  };
  state.onChange = () => {
    if (pending === undefined && streams.size > 0) {
      pending = setTimeout(push, interval);
      pending.unref(); // as the server: a push waiting for an open page keeps no process alive
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (token !== undefined && !tokenMatches(url.searchParams.get('token'), token)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: open the URL dashboard() returned (it carries a token)');
      return;
    }
    if (token === undefined && !LOOPBACK_HOSTNAMES.has(hostnameOf(req.headers.host))) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: this dashboard answers requests to 127.0.0.1, [::1] or localhost only');
      return;
    }
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'" }).end(page);
    } else if (req.method === 'GET' && url.pathname === '/events') {
      if (streams.size >= MAX_STREAMS) {
        res.writeHead(503, { ...headers, 'content-type': 'text/plain', 'retry-after': '10' }).end(`too many open dashboard pages (${MAX_STREAMS})`);
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(state.snapshot())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
    } else if (req.method === 'GET' && url.pathname === '/snapshot') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(state.snapshot()));
    } else {
      res.writeHead(404, headers).end();
    }
  });
  // The dashboard never keeps the process alive by itself: neither the listening socket nor
  // the connections it accepts (an open page's event stream never ends on its own).
  server.unref();
  server.on('connection', (socket) => socket.unref());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new ConfigError(`dashboard cannot listen on ${host}:${port}: ${err.message}`, err)));
      server.listen(port, host, resolve);
    });
  } catch (err) {
    state.close(); // its subscriptions and ticker would outlive the dashboard that failed
    throw err;
  }
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  const close = async (): Promise<void> => {
    state.close();
    if (pending !== undefined) clearTimeout(pending);
    for (const res of streams) res.end();
    streams.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://${shown}:${bound}/${token === undefined ? '' : `?token=${token}`}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  // Bytes, not characters: a token of the right length in characters may be longer in bytes,
  // and timingSafeEqual throws on buffers of different lengths (in the request handler).
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The host name of a Host header (`[::1]` keeps its brackets), lowercased; '' without one. */
function hostnameOf(header: string | undefined): string {
  if (header === undefined) return '';
  const end = header.startsWith('[') ? header.indexOf(']') + 1 : header.lastIndexOf(':');
  return (end > 0 ? header.slice(0, end) : header).toLowerCase();
}
