/**
 * tls+tcp:// profiles with real daemon processes (the certificates themselves are tested in
 * core/test/tls/x509.test.ts).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, daemons, launchRemote, mirai, remoteConfig, status } from '@mirai-ts/core';
import { createCertificateAuthority, issueServerCertificate, zeroConfigCredentials } from '@mirai-ts/core/plugin';
import { specOf } from './support.js';

describe('tls+tcp:// profiles', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('zero-config: daemons verify a fresh CA and run tasks', async () => {
    const h = await daemons(2, { url: 'tls+tcp://127.0.0.1:0' });
    expect(h.url).toMatch(/^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(h.connections).toBe(2);
    const results = await Promise.all([1, 2, 3, 4].map((x) => mirai(({ x }: { x: number }) => x * 10, { x })));
    expect(results).toEqual([10, 20, 30, 40]);
    const spec = await specOf();
    const ca = spec.dialOptions?.ca;
    expect(typeof ca).toBe('string');
    expect(new X509Certificate(ca as string).ca).toBe(true);
    // The CA's key stays behind: nothing private is in what daemons are given.
    expect(JSON.stringify(spec.dialOptions)).not.toMatch(/PRIVATE KEY/);
    // Large frames cross TLS intact.
    const big = new Float64Array(1_000_000).map((_, i) => i);
    const sum = await mirai(({ a }: { a: Float64Array }) => a.reduce((s, v) => s + v, 0), { a: big });
    expect(sum).toBe((999_999 * 1_000_000) / 2);
  });

  it('listens with the user’s own certificate, key and CA', async () => {
    const ca = createCertificateAuthority({ commonName: 'my company CA' });
    const server = issueServerCertificate(ca, ['127.0.0.1'], { commonName: 'host' });
    const key = server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const h = await daemons(1, { url: 'tls+tcp://127.0.0.1:0', listenOptions: { cert: server.certPem, key, ca: ca.certPem } });
    expect(await mirai(() => 'over my own TLS')).toBe('over my own TLS');
    expect((await specOf()).dialOptions).toEqual({ ca: ca.certPem });
    await h.close();
  });

  it('lets daemons read the CA from a file (dialOptions.caFile)', async () => {
    const ca = createCertificateAuthority({ commonName: 'file CA' });
    const server = issueServerCertificate(ca, ['127.0.0.1'], { commonName: 'host' });
    const key = server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const dir = mkdtempSync(join(tmpdir(), 'mirai-ca-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      // No `ca` in the listen options: daemons get only the file path, which exists "over there".
      await daemons(1, { url: 'tls+tcp://127.0.0.1:0', listenOptions: { cert: server.certPem, key }, dialOptions: { caFile: join(dir, 'ca.pem') } });
      expect(await mirai(() => 42)).toBe(42);
    } finally {
      await daemons(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects half-given or unusable credentials with a ConfigError', async () => {
    const creds = zeroConfigCredentials('127.0.0.1');
    await expect(daemons({ url: 'tls+tcp://127.0.0.1:0', listenOptions: { cert: creds.certPem } })).rejects.toThrow(ConfigError);
    await expect(daemons({ url: 'tls+tcp://127.0.0.1:0', listenOptions: { cert: 'nope', key: 'nope' } })).rejects.toThrow(/unusable/);
    await expect(daemons({ url: 'tls+tcp://127.0.0.1:0', listenOptions: { ca: creds.caPem } })).rejects.toThrow(ConfigError);
    expect(status()).toBeUndefined();
  });

  it('listen-only tls profile: pasted manual commands verify the CA and join', async () => {
    const h = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
    const [command] = await launchRemote(1, remoteConfig());
    expect(command).toContain(h.url);
    expect(command).toContain('BEGIN CERTIFICATE');
    // The pasted-command path itself is exercised in manual.test.ts.
    expect(h.connections).toBe(0);
  });

  it('sends nothing in clear: a plain TCP client receives no mirai frame', async () => {
    const h = await daemons({ url: 'tls+tcp://127.0.0.1:0', log: () => {} });
    const port = Number(h.url.split(':').pop());
    // Over tcp:// the host greets with a Challenge frame at once; over TLS that frame waits
    // for a handshake, so a client that does not speak TLS sees nothing at all.
    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      const socket = netConnect(port, '127.0.0.1');
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.on('error', () => {});
      setTimeout(() => {
        socket.destroy();
        resolve(bytes);
      }, 1_000);
    });
    expect(received).toBe(0);
  });
});
