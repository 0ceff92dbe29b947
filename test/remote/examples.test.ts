/**
 * The examples docs/remote.md, docs/tls.md and docs/launchers.md show (test/docs.test.ts checks
 * they are shown verbatim) run here; the SSH one runs in ssh.test.ts, where the test sshd is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, launchRemote, mirai, status } from '@mirai-ts/core';
import { createCertificateAuthority, issueServerCertificate } from '@mirai-ts/core/plugin';
import { waitFor } from '../helpers/wait.js';
import { listenForRemoteDaemons } from './examples/manual-deploy.js';
import { niceLauncher } from './examples/nice-launcher.js';
import { daemonsWithOwnCertificate } from './examples/own-certificate.js';
import { specOf } from './support.js';

describe('examples run', () => {
  const shells: ChildProcess[] = [];
  afterEach(async () => {
    await daemons(0);
    for (const s of shells.splice(0)) if (s.exitCode === null) s.kill('SIGKILL');
  });

  it('launchers.md: niceLauncher starts tracked daemons at the given priority', async () => {
    const h = await daemons(2, { launcher: niceLauncher(7) });
    expect(h.connections).toBe(2);
    const priorities = await Promise.all([1, 2].map(() => mirai(async () => (await import('node:os')).getPriority())));
    const expected = Math.min(19, getPriority() + 7);
    expect(priorities).toEqual([expected, expected]);
    expect(await launchRemote(1, niceLauncher(19))).toEqual([expect.stringMatching(/^nice -n 19 /)]);
    expect(status()!.connections).toBe(3);
  });

  it('launchers.md: a tracked launcher whose daemon dies early fails the launch with its exit code', async () => {
    // nice with an invalid level fails before node starts.
    const error = await daemons(1, { launcher: niceLauncher(Number.NaN) }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/exited with code/);
  });

  it('launchers.md: a launcher that starts nothing sees the spec', async () => {
    const secret = 'spec-secret';
    const h = await daemons({ url: 'tls+tcp://127.0.0.1:0', secret, maxtasks: 5 });
    const spec = await specOf();
    expect(spec).toMatchObject({ url: h.url, secret, options: { maxtasks: 5 }, profile: 'default' });
    expect(spec.dialOptions?.ca).toMatch(/BEGIN CERTIFICATE/);
  });

  it('remote.md: the manual deployment commands join when pasted', async () => {
    const commands = await listenForRemoteDaemons('tls+tcp://127.0.0.1:0');
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      const shell = spawn('/bin/sh', [], { stdio: ['pipe', 'ignore', 'ignore'] });
      shell.stdin!.end(`${command}\n`);
      shells.push(shell);
    }
    expect(await waitFor(() => status()!.connections === 2, 20_000)).toBe(true);
    expect(await mirai(() => 'joined')).toBe('joined');
  });

  it('tls.md: daemons verify the host against your own CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-own-cert-'));
    try {
      const ca = createCertificateAuthority({ commonName: 'Example Corp CA', organization: 'Example Corp' });
      const server = issueServerCertificate(ca, ['127.0.0.1', 'localhost'], { commonName: 'host.example' });
      const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
      writeFileSync(files.cert, server.certPem);
      writeFileSync(files.key, server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
      writeFileSync(files.ca, ca.certPem);
      const h = await daemonsWithOwnCertificate(files);
      expect(h.connections).toBe(2);
      expect(await mirai(({ x }: { x: number }) => x + 1, { x: 1 })).toBe(2);
      expect((await specOf()).dialOptions).toEqual({ ca: ca.certPem });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
