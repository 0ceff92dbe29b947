/**
 * Hostile and broken peers, over tcp:// and tls+tcp://: garbage, an oversized first frame,
 * a daemon with the wrong secret, a daemon that distrusts the host's certificate, silent
 * connections, and thousands of connections opened and dropped. Each is refused (and,
 * where it reaches the handshake, logged and counted) while real work carries on.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonExit, daemons, mirai, status, type DaemonsHandle, type LaunchSpec, type Mirai } from '@mirai-ts/core';
import { daemonArgv, FRAME_HEADER_BYTES, FRAME_MAGIC, FrameType, zeroConfigCredentials } from '@mirai-ts/core/plugin';
import { waitFor } from '../helpers/wait.js';
import { processesWithArgv, specOf, testSecret } from './support.js';

const HANDSHAKE_TIMEOUT_MS = 500;

/** Work that is running on a daemon while an attack happens. */
function longTask(ms: number, value: string): Mirai<string> {
  return mirai(
    async ({ ms, value }: { ms: number; value: string }) => {
      await new Promise((r) => setTimeout(r, ms));
      return value.toUpperCase();
    },
    { ms, value },
  );
}

/** Runs a real daemon process with `spec` (altered by the test); resolves with its exit code and stderr. */
function runDaemon(spec: LaunchSpec, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const { MIRAI_SECRET: _none, ...base } = process.env;
  const child = spawn(process.execPath, daemonArgv(spec), { env: { ...base, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

/** Opens a connection and resolves once the host closes it (or after `ms`, destroying it). */
function openUntilClosed(port: number, send?: Buffer, ms = 15_000): Promise<{ closedByHost: boolean; after: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = netConnect(port, '127.0.0.1', () => {
      if (send) socket.write(send);
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedByHost: false, after: Date.now() - started });
    }, ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByHost: true, after: Date.now() - started });
    });
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe.each(['tcp', 'tls+tcp'] as const)('%s:// under attack', (scheme) => {
  // TLS-only cases exist only in the TLS run (defined, not skipped: CI runs no skipped tests).
  const tlsOnly = (name: string, fn: () => Promise<void>): void => {
    if (scheme === 'tls+tcp') it(name, fn);
  };
  const secret = testSecret();
  const logs: string[] = [];
  let h: DaemonsHandle;
  let port: number;
  let spec: LaunchSpec;
  const rejected = (): number => status()!.rejected;

  beforeAll(async () => {
    h = await daemons(2, {
      url: `${scheme}://127.0.0.1:0`,
      secret,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      log: (_level, message) => logs.push(message),
    });
    port = Number(h.url.split(':').pop());
    spec = await specOf();
  });

  afterAll(async () => {
    // Nothing an attacker did may have leaked the secret, and the pool is intact.
    expect(logs.join('\n')).not.toContain(secret);
    expect(JSON.stringify(status() ?? {})).not.toContain(secret);
    expect(processesWithArgv(secret)).toEqual([]);
    await daemons(0);
  });

  it('garbage bytes are refused, logged and counted', async () => {
    const work = longTask(1_500, 'garbage');
    const before = rejected();
    const result = await openUntilClosed(port, randomBytes(64 * 1024));
    expect(result.closedByHost).toBe(true);
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
    expect(logs.at(-1)).toMatch(/127\.0\.0\.1:\d+/);
    expect(await work).toBe('GARBAGE');
    expect(h.connections).toBe(2);
  });

  it('an oversized first frame is refused before it is buffered', async () => {
    const work = longTask(1_000, 'oversized');
    const before = rejected();
    const head = Buffer.alloc(FRAME_HEADER_BYTES + 4);
    head[0] = FRAME_MAGIC;
    head[1] = FrameType.Hello;
    head.writeUInt32LE(1, 8); // one segment...
    head.writeUInt32LE(0x40000000, FRAME_HEADER_BYTES); // ...of 1 GiB
    const result = await openUntilClosed(port, head);
    expect(result.closedByHost).toBe(true);
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
    expect(await work).toBe('OVERSIZED');
  });

  it('a daemon with the wrong secret is rejected, logged and counted; it exits with AuthFailed', async () => {
    const work = longTask(1_500, 'secret');
    const before = rejected();
    const { code, stderr } = await runDaemon(spec, { MIRAI_SECRET: 'not-the-secret' });
    expect(code).toBe(DaemonExit.AuthFailed);
    expect(stderr).toMatch(/handshake|secret/i);
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
    expect(logs.some((l) => l.includes('wrong secret'))).toBe(true);
    expect(await work).toBe('SECRET');
    expect(h.connections).toBe(2);
  });

  tlsOnly('a daemon that does not trust the host’s certificate refuses to connect', async () => {
    const work = longTask(1_500, 'ca');
    const before = rejected();
    const stranger = zeroConfigCredentials('127.0.0.1').caPem;
    const { code, stderr } = await runDaemon({ ...spec, dialOptions: { ca: stranger } }, { MIRAI_SECRET: secret });
    expect(code).toBe(DaemonExit.ConnectFailed);
    expect(stderr).toMatch(/certificate/i);
    // The host sees a connection that hung up mid TLS handshake.
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
    expect(logs.some((l) => /TLS handshake/.test(l))).toBe(true);
    expect(await work).toBe('CA');
  });

  tlsOnly('a TLS client that checks a different host name refuses the certificate', async () => {
    const before = rejected();
    const ca = spec.dialOptions!.ca as string;
    const error = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'not-this-host.example' }, () => resolve('connected'));
      socket.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
    });
    expect(error).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    // The host counts the connection that never got past the handshake.
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
  });

  it('a silent connection is closed after the handshake timeout, logged and counted', async () => {
    const work = longTask(1_500, 'silent');
    const before = rejected();
    const result = await openUntilClosed(port);
    expect(result.closedByHost).toBe(true);
    expect(result.after).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
    expect(logs.some((l) => l.includes(`no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`))).toBe(true);
    expect(await work).toBe('SILENT');
  });

  tlsOnly('a client that completes TLS and then stays silent is closed too', async () => {
    const before = rejected();
    const ca = spec.dialOptions!.ca as string;
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca });
      socket.on('data', () => {}); // the host's Challenge; we never answer
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 15_000).unref();
    });
    expect(closed).toBe(true);
    expect(await waitFor(() => rejected() === before + 1, 10_000)).toBe(true);
  });

  it('thousands of connections opened and dropped leave the host healthy', async () => {
    const work = longTask(3_000, 'flood');
    const fdsBefore = openFds();
    const logsBefore = logs.length;
    const total = 3_000;
    const batch = 100;
    let opened = 0;
    const floodStart = Date.now();
    for (let i = 0; i < total; i += batch) {
      await Promise.all(
        Array.from({ length: batch }, () =>
          new Promise<void>((resolve) => {
            const socket = netConnect(port, '127.0.0.1', () => {
              opened++;
              socket.destroy();
            });
            socket.on('error', () => {});
            socket.on('close', () => resolve());
          }),
        ),
      );
    }
    expect(opened).toBe(total);
    // The running task finishes, new tasks run, both daemons are still there.
    expect(await work).toBe('FLOOD');
    expect(await Promise.all([1, 2, 3].map((x) => mirai(({ x }: { x: number }) => x * x, { x })))).toEqual([1, 4, 9]);
    expect(h.connections).toBe(2);
    // The log is rate-limited, whatever the flood: 3000 refusals over TLS log a few dozen lines
    // (20 per 10 s window, plus one summary line each; a slow machine spreads the flood over
    // more windows).
    const windows = Math.ceil((Date.now() - floodStart) / 10_000) + 1;
    expect(logs.length - logsBefore).toBeLessThanOrEqual(21 * windows);
    expect(logs.length - logsBefore).toBeLessThan(total / 10);
    // Every dropped connection was cleaned up on the host: no leaked sockets.
    expect(await waitFor(() => openFds() <= fdsBefore + 5, 15_000)).toBe(true);
  }, 120_000);
});
