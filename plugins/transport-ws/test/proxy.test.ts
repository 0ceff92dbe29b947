/**
 * Daemons reach the host through a reverse proxy that passes only HTTP, wants a key header
 * and routes by a path prefix, as an ingress controller does. The proxy is a small HTTP
 * server written here; the host listens at its own path behind it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonExit, daemons, launchRemote, localLauncher, miraiMap, status, type Launcher, type LaunchSpec } from '@mirai-ts/core';
import { wsTransport } from '@mirai-ts/transport-ws';
import { currentSpec, requireBuiltPackages, runDaemon } from './support.js';

const KEY = 'gateway-key-123';

/** Forwards upgrades at /gateway/* to `target` with the prefix cut, if the key header is right. */
function startProxy(target: () => number): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(502).end());
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    seen.push(`${req.url} ${req.headers['x-gateway-key'] ?? '-'}`);
    if (req.headers['x-gateway-key'] !== KEY) {
      client.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nmissing gateway key\n');
      return;
    }
    const upstream = connect(target(), '127.0.0.1', () => {
      const path = req.url!.replace(/^\/gateway/, '');
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`);
      upstream.write([`GET ${path} HTTP/1.1`, ...headers, `x-forwarded-for: ${client.remoteAddress}`, '', ''].join('\r\n'));
      upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => client.destroy());
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, seen })));
}

/** The local launcher, but daemons dial `url` (the proxy) instead of the host's own URL. */
function viaProxy(url: string): Launcher {
  const local = localLauncher();
  return { kind: 'local-via-proxy', launch: (spec: LaunchSpec, n: number) => local.launch({ ...spec, url }, n) };
}

describe('ws:// through a reverse proxy', () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let hostPort = 0;
  const secret = `ws-proxy-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    requireBuiltPackages();
    proxy = await startProxy(() => hostPort);
    // The header travels to daemons in their dial options (the profile's `dialOptions`).
    await daemons({ url: 'ws://127.0.0.1:0/mirai', transports: [wsTransport()], secret, dialOptions: { headers: { 'x-gateway-key': KEY } } });
    hostPort = Number(new URL(status()!.url).port);
  }, 30_000);

  afterAll(async () => {
    await daemons(0);
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
  });

  it('daemons dial the proxy URL with a header it asks for, and run a map', async () => {
    const proxied = `ws://127.0.0.1:${proxy.port}/gateway/mirai?tenant=a`;
    await launchRemote(2, viaProxy(proxied));
    expect(status()!.connections).toBe(2);
    expect(await miraiMap([1, 2, 3, 4], (x: number) => x + 1)).toEqual([2, 3, 4, 5]);
    expect(proxy.seen.filter((s) => s === `/gateway/mirai?tenant=a ${KEY}`).length).toBe(2);
    expect(status()!.daemons.length).toBe(2);
  }, 30_000);

  it('without the header the proxy answers 401 and the daemon says which option is missing', async () => {
    const spec = await currentSpec();
    const { code, stderr } = await runDaemon({ ...spec, url: `ws://127.0.0.1:${proxy.port}/gateway/mirai`, dialOptions: {} }, secret);
    expect(code).toBe(DaemonExit.ConnectFailed);
    expect(stderr).toMatch(/HTTP 401: the host or a proxy in front of it wants credentials \(the "headers" dial option\) \(missing gateway key\)/);
  }, 30_000);
});
