/**
 * TLS: the hand-written DER encoder, the certificates it makes (checked by node:crypto and
 * by real node:tls handshakes) and tls+tcp:// profiles with real daemon processes.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, daemons, launchRemote, mirai, remoteConfig, status } from '@mirai-ts/core';
import { createCertificateAuthority, issueServerCertificate, zeroConfigCredentials } from '@mirai-ts/core/plugin';
import * as der from '../../core/src/tls/der.js';
import { ipBytes } from '../../core/src/tls/x509.js';
import { specOf } from './support.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('DER encoder', () => {
  it('encodes integers in minimal two’s complement', () => {
    expect(hex(der.integer(0))).toBe('020100');
    expect(hex(der.integer(127))).toBe('02017f');
    expect(hex(der.integer(128))).toBe('02020080');
    expect(hex(der.integer(256))).toBe('02020100');
    expect(hex(der.integer(Buffer.from([0, 0, 0x12])))).toBe('020112');
    expect(hex(der.integer(Buffer.from([0xff, 0x01])))).toBe('020300ff01');
    expect(() => der.integer(-1)).toThrow(RangeError);
  });

  it('uses short and long length forms', () => {
    expect(hex(der.octetString(Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(der.octetString(Buffer.alloc(200))).slice(0, 6)).toBe('0481c8');
    expect(hex(der.octetString(Buffer.alloc(300))).slice(0, 8)).toBe('0482012c');
  });

  it('encodes object identifiers, including multi-byte arcs', () => {
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(der.oid('2.5.29.17'))).toBe('0603551d11');
    expect(() => der.oid('1.x')).toThrow(RangeError);
  });

  it('encodes named bit lists with the right unused-bit count', () => {
    expect(hex(der.namedBits([5, 6]))).toBe('03020106'); // keyCertSign + cRLSign
    expect(hex(der.namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(der.namedBits([0, 8]))).toBe('0303078080');
  });

  it('switches from UTCTime to GeneralizedTime in 2050', () => {
    expect(Buffer.from(der.time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)))).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(Buffer.from(der.time(new Date(Date.UTC(2050, 0, 1, 0, 0, 0)))).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });

  it('sorts SET OF members and encodes booleans as DER wants', () => {
    expect(hex(der.set(der.integer(2), der.integer(1)))).toBe('3106020101020102');
    expect(hex(der.boolean(true))).toBe('0101ff');
  });

  it('parses IP addresses into subjectAltName bytes', () => {
    expect(hex(ipBytes('192.0.2.1'))).toBe('c0000201');
    expect(hex(ipBytes('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(ipBytes('2001:db8::1:0:0:1'))).toBe('20010db8000000000001000000000001');
    expect(hex(ipBytes('::ffff:1.2.3.4'))).toBe('00000000000000000000ffff01020304');
    expect(() => ipBytes('fe80::1%eth0')).toThrow(ConfigError);
  });
});

describe('certificates', () => {
  it('makes a CA and a server certificate that node:crypto verifies', () => {
    const creds = zeroConfigCredentials('127.0.0.1');
    const ca = new X509Certificate(creds.caPem);
    const leaf = new X509Certificate(creds.certPem); // the first certificate of the chain
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('203.0.113.9')).toBeUndefined();
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(leaf.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    // A fresh CA every time: credentials are never shared between profiles.
    expect(zeroConfigCredentials('127.0.0.1').caPem).not.toBe(creds.caPem);
  });

  it('puts the URL host and the machine’s addresses in subjectAltName', () => {
    const creds = zeroConfigCredentials('mirai.example');
    const leaf = new X509Certificate(creds.certPem);
    expect(leaf.subjectAltName).toContain('DNS:mirai.example');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(leaf.subjectAltName).toContain('DNS:localhost');
    expect(creds.names).not.toContain('0.0.0.0');
    // Listening on every interface: all addresses are in, the wildcard last (local daemons dial it).
    const all = zeroConfigCredentials('0.0.0.0').names;
    expect(all[0]).not.toBe('0.0.0.0');
    expect(all.at(-1)).toBe('0.0.0.0');
  });

  it('refuses names a certificate cannot hold', () => {
    const ca = createCertificateAuthority({ commonName: 'test CA' });
    expect(() => issueServerCertificate(ca, [], { commonName: 'x' })).toThrow(ConfigError);
    expect(() => issueServerCertificate(ca, ['bad name!'], { commonName: 'x' })).toThrow(ConfigError);
  });

  it('passes real node:tls handshakes: right CA accepted, wrong CA and wrong name refused', async () => {
    const creds = zeroConfigCredentials('127.0.0.1');
    const other = zeroConfigCredentials('127.0.0.1');
    const server = createTlsServer({ cert: creds.certPem, key: creds.keyPem }, (s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const attempt = (options: { ca: string; servername?: string; host?: string }): Promise<string> =>
      new Promise((resolve) => {
        const socket: TLSSocket = tlsConnect({ host: options.host ?? '127.0.0.1', port, ca: options.ca, rejectUnauthorized: true, ...(options.servername ? { servername: options.servername } : {}) }, () => {
          resolve(socket.authorized ? 'authorized' : 'not authorized');
          socket.destroy();
        });
        socket.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
      });
    try {
      expect(await attempt({ ca: creds.caPem })).toBe('authorized');
      expect(await attempt({ ca: creds.caPem, servername: 'localhost' })).toBe('authorized');
      expect(await attempt({ ca: other.caPem })).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
      expect(await attempt({ ca: creds.caPem, servername: 'evil.example' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });
});

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
