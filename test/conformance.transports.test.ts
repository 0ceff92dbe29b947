/**
 * The transport conformance suite (test/conformance/transport.ts) against every transport:
 * ipc and tcp from core, NATS (on a real nats-server, default and tiny max_payload), and
 * WebSocket (ws://, and wss:// with zero-config TLS and with a certificate of one's own).
 * The "process killed" cases start peers from the built packages: build first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, ipcTransport, issueServerCertificate, tcpTransport } from '@mirai-ts/core/plugin';
import { localUrl } from '@mirai-ts/core';
import { natsTransport, type NatsTransportOptions } from '@mirai-ts/transport-nats';
import { wsTransport } from '@mirai-ts/transport-ws';
import { describe } from 'vitest';
import { transportConformance } from './conformance/transport.js';
import { natsTestsEnabled, NatsServer } from '../plugins/transport-nats/test/nats-server.js';

const dirs: string[] = [];
transportConformance(() => ({
  name: 'ipc',
  transport: () => ipcTransport,
  url: () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-conformance-'));
    dirs.push(dir);
    return `ipc://${join(dir, 'host.sock')}`;
  },
  childTransport: 'ipc',
  vanishNoticeMs: 10_000,
  teardown: async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  },
}));

transportConformance(() => ({
  name: 'abstract (Linux abstract sockets, what localUrl() gives)',
  transport: () => ipcTransport,
  url: () => localUrl(),
  childTransport: 'ipc',
  vanishNoticeMs: 10_000,
}));

transportConformance(() => ({
  name: 'tcp',
  transport: () => tcpTransport,
  url: () => 'tcp://127.0.0.1:0',
  childTransport: 'tcp',
  vanishNoticeMs: 10_000,
}));

const natsEnabled = natsTestsEnabled();

function natsVariant(name: string, config: string | undefined): void {
  describe.skipIf(!natsEnabled)(name, () => {
    let server: NatsServer | undefined;
    let scope = 0;
    // Short liveness settings keep the "killed" cases quick; defaults are tested end to end.
    const options: NatsTransportOptions = { heartbeatMs: 250, peerTimeoutMs: 1_500 };
    transportConformance(() => ({
      name,
      setup: async () => {
        server = await NatsServer.start(config === undefined ? {} : { config });
      },
      teardown: async () => {
        await server?.dispose();
      },
      transport: () => natsTransport(options),
      url: () => `${server!.url}/conformance/s${++scope}`,
      childTransport: natsTransport(options).ref!,
      vanishNoticeMs: 10_000,
    }));
  });
}

natsVariant('nats', undefined);
natsVariant('nats (max_payload 4 KB: every large frame in many messages)', 'max_payload: 4096\n');

transportConformance(() => ({
  name: 'ws',
  transport: () => wsTransport(),
  url: () => 'ws://127.0.0.1:0/conformance',
  childTransport: wsTransport().ref!,
  vanishNoticeMs: 10_000,
}));

/**
 * wss:// with a certificate from files, which peer processes load too (zero-config TLS makes
 * a CA per listener that a peer process could not learn; the WebSocket e2e tests run it).
 */
const wssDir = mkdtempSync(join(tmpdir(), 'mirai-wss-conformance-'));
const ca = createCertificateAuthority({ commonName: 'conformance CA' });
const leaf = issueServerCertificate(ca, ['127.0.0.1'], { commonName: '127.0.0.1' });
writeFileSync(join(wssDir, 'cert.pem'), leaf.certPem + ca.certPem);
writeFileSync(join(wssDir, 'key.pem'), leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
const wss = wsTransport({ certFile: join(wssDir, 'cert.pem'), keyFile: join(wssDir, 'key.pem'), ca: ca.certPem });
transportConformance(() => ({
  name: 'wss',
  transport: () => wss,
  url: () => 'wss://127.0.0.1:0/conformance',
  childTransport: wss.ref!,
  vanishNoticeMs: 10_000,
  teardown: async () => {
    rmSync(wssDir, { recursive: true, force: true });
  },
}));
