/**
 * The hand-written DER encoder and the certificates it makes, checked by node:crypto and by
 * real node:tls handshakes on 127.0.0.1.
 */
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import * as der from '../../src/tls/der.js';
import { createCertificateAuthority, ipBytes, issueServerCertificate } from '../../src/tls/x509.js';
import { zeroConfigCredentials } from '../../src/tls/zero-config.js';

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
