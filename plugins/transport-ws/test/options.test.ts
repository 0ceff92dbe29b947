/** Every option of wsTransport() and of its listen and dial sides is checked. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, daemons, mirai, status } from '@mirai-ts/core';
import { createCertificateAuthority, DEFAULT_LIMITS, HANDSHAKE_LIMITS, issueServerCertificate } from '@mirai-ts/core/plugin';
import { parseWsUrl, wsTransport, type WsTransportOptions } from '@mirai-ts/transport-ws';
import { requireBuiltPackages } from './support.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('no ConfigError');
}

async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
}

const ca = createCertificateAuthority({ commonName: 'options test CA' });
const leaf = issueServerCertificate(ca, ['127.0.0.1'], { commonName: '127.0.0.1' });
const certPem = leaf.certPem + ca.certPem;
const keyPem = leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const dir = mkdtempSync(join(tmpdir(), 'mirai-ws-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wsTransport options', () => {
  it('rejects unknown keys (with a suggestion), wrong types and keys that would leak', () => {
    const t = (o: unknown) => configError(() => wsTransport(o as WsTransportOptions));
    expect(t({ header: {} })).toMatch(/unknown option 'header' \(did you mean 'headers'\?\)/);
    expect(t({ maxtask: 1 })).toMatch(/unknown option 'maxtask'; known: headers/);
    expect(t(null)).toMatch(/options must be an object, got null/);
    expect(t([])).toMatch(/got an array/);
    expect(t({ key: keyPem, cert: certPem })).toMatch(/would travel to every daemon.*listenOptions/);
    expect(t({ heartbeatMs: -1 })).toMatch(/'heartbeatMs' must be a number of ms ≥ 0, got -1/);
    expect(t({ connectTimeoutMs: 0 })).toMatch(/'connectTimeoutMs' must be a number of ms > 0/);
    expect(t({ connectTimeoutMs: '5000' })).toMatch(/got "5000"/);
    expect(t({ heartbeatMs: Number.NaN })).toMatch(/got NaN/);
    expect(t({ busyTimeoutMs: -5 })).toMatch(/'busyTimeoutMs' must be a number of ms ≥ 0, got -5/);
    expect(t({ busyTimeout: 5 })).toMatch(/did you mean 'busyTimeoutMs'/);
    expect(t({ heartbeatMs: 0, busyTimeoutMs: 5_000 })).toMatch(/'busyTimeoutMs' needs 'heartbeatMs' > 0/);
    expect(t({ ca: 'not pem' })).toMatch(/'ca' must be a PEM certificate/);
    expect(t({ headers: { 'bad header': 'x' } })).toMatch(/not a valid HTTP header name/);
    expect(t({ headers: { 'Sec-WebSocket-Key': 'x' } })).toMatch(/belongs to the WebSocket handshake/);
    expect(t({ headers: { a: 'x\r\nInjected: 1' } })).toMatch(/without line breaks/);
    expect(t({ headers: { a: 1 } })).toMatch(/must be a string/);
    expect(t({ certFile: '/x' })).toMatch(/'certFile' and 'keyFile' together/);
    expect(t({ servername: '' })).toMatch(/'servername' must be a non-empty string/);
    // Accepted, and kept as the JSON daemons receive.
    const ok = wsTransport({ headers: { Authorization: 'Bearer x' }, heartbeatMs: 0, ca: ca.certPem });
    expect(ok.ref).toEqual({ specifier: '@mirai-ts/transport-ws', exportName: 'wsTransport', options: { headers: { Authorization: 'Bearer x' }, heartbeatMs: 0, ca: ca.certPem } });
    expect(ok.schemes).toEqual(['ws', 'wss']);
  });

  it('checks URLs', () => {
    expect(configError(() => parseWsUrl('http://x/'))).toMatch(/handles ws:\/\/ and wss:\/\//);
    expect(configError(() => parseWsUrl('ws://user:pw@x/'))).toMatch(/credentials in a ws\(s\):\/\/ URL/);
    expect(configError(() => parseWsUrl('ws://x/#frag'))).toMatch(/no #fragment/);
    expect(configError(() => parseWsUrl('nonsense'))).toMatch(/invalid URL/);
    expect(parseWsUrl('wss://gateway.example.org/mirai/a?t=1')).toEqual({ secure: true, host: 'gateway.example.org', port: 443, path: '/mirai/a', search: '?t=1' });
    expect(parseWsUrl('ws://[::1]:0')).toEqual({ secure: false, host: '::1', port: 0, path: '/', search: '' });
  });

  it('checks listen options on the host and dial options on daemons', async () => {
    const t = wsTransport();
    expect(await rejection(t.listen('ws://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, cerf: 'x' }))).toMatch(/unknown option 'cerf' \(did you mean 'cert'\?\)/);
    expect(await rejection(t.listen('ws://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, cert: certPem, key: keyPem }))).toMatch(/TLS option 'cert' given for ws:\/\/127\.0\.0\.1:0\/, a plain-text URL/);
    expect(await rejection(t.listen('wss://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, cert: certPem }))).toMatch(/'cert' and 'key' together/);
    expect(await rejection(t.listen('wss://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, ca: ca.certPem }))).toMatch(/'ca' was given without a certificate/);
    expect(await rejection(wsTransport({ ca: ca.certPem }).listen('ws://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS }))).toMatch(/TLS option 'ca' given for ws:/);
    const wrongKey = createCertificateAuthority({ commonName: 'other' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(await rejection(t.listen('wss://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, cert: certPem, key: wrongKey }))).toMatch(/certificate or key is unusable/);
    expect(await rejection(t.listen('wss://127.0.0.1:0/', { handshakeLimits: HANDSHAKE_LIMITS, certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') }))).toMatch(/'certFile': cannot read .*ENOENT/);
    expect(await rejection(t.dial('ws://127.0.0.1:9/', { limits: DEFAULT_LIMITS, header: {} }))).toMatch(/dial options: unknown option 'header' \(did you mean 'headers'\?\)/);
    expect(await rejection(t.dial('ws://127.0.0.1:9/', { limits: DEFAULT_LIMITS, ca: ca.certPem }))).toMatch(/TLS dial options .* plain-text URL: dial wss:\/\//);
    writeFileSync(join(dir, 'headers.json'), '{"a": 1}');
    expect(await rejection(t.dial('ws://127.0.0.1:9/', { limits: DEFAULT_LIMITS, headersFile: join(dir, 'headers.json') }))).toMatch(/header.*'a' must be a string/);
    writeFileSync(join(dir, 'bad.json'), 'nope');
    expect(await rejection(t.dial('ws://127.0.0.1:9/', { limits: DEFAULT_LIMITS, headersFile: join(dir, 'bad.json') }))).toMatch(/is not JSON/);
  });
});

describe('wss:// with a certificate of ones own', () => {
  it('listens with cert and key from listenOptions; daemons trust the given CA', async () => {
    requireBuiltPackages();
    try {
      await daemons(1, { url: 'wss://127.0.0.1:0/own', transports: [wsTransport()], listenOptions: { cert: certPem, key: keyPem, ca: ca.certPem } });
      expect(status()!.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/own$/);
      expect(await mirai(() => 'over my own certificate')).toBe('over my own certificate');
    } finally {
      await daemons(0);
    }
  }, 30_000);

  it('listens with certFile and keyFile given to the transport (paths travel, keys do not)', async () => {
    requireBuiltPackages();
    writeFileSync(join(dir, 'cert.pem'), certPem);
    writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
    try {
      const transport = wsTransport({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), ca: ca.certPem });
      await daemons(1, { url: 'wss://127.0.0.1:0/files', transports: [transport] });
      expect(JSON.stringify(transport.ref)).not.toContain('PRIVATE KEY');
      expect(await mirai(() => 21 * 2)).toBe(42);
    } finally {
      await daemons(0);
    }
  }, 30_000);
});
