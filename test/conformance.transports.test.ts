/**
 * The transport conformance suite (test/conformance/transport.ts) against every transport:
 * ipc and tcp from core, and NATS (on a real nats-server, default and tiny max_payload).
 * The "process killed" cases start peers from the built packages: build first.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { ipcTransport, tcpTransport } from '@mirai-ts/core/plugin';
import { localUrl } from '@mirai-ts/core';
import { natsTransport, type NatsTransportOptions } from '@mirai-ts/transport-nats';
import { describe } from 'vitest';
import { transportConformance } from './conformance/transport.js';
import { natsTestsEnabled, NatsServer } from '../plugins/transport-nats/test/nats-server.js';

const dirs: string[] = [];
transportConformance(() => ({
  name: 'ipc',
  transport: () => ipcTransport,
  url: () => {
    const url = localUrl();
    dirs.push(dirname(new URL(url).pathname));
    return url;
  },
  childTransport: 'ipc',
  vanishNoticeMs: 10_000,
  teardown: async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  },
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
