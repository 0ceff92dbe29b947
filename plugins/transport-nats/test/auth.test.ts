/**
 * NATS credentials and TLS reach daemons: user/password, token, NKey and TLS against real
 * nats-server processes configured for each. Secrets never show in error messages.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { daemons, isMiraiError, mirai, type Channel, type Listener } from '@mirai-ts/core';
import { DEFAULT_LIMITS, frame, FrameType } from '@mirai-ts/core/plugin';
import { nkeys } from '@nats-io/transport-node';
import { natsTransport, NatsTransportError, type NatsTransportOptions } from '@mirai-ts/transport-nats';
import { NatsServer, natsTestsEnabled } from './nats-server.js';
import { requireBuiltPackages } from './built.js';

const enabled = natsTestsEnabled();
const dir = mkdtempSync(join(tmpdir(), 'mirai-nats-auth-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, `${text}\n`, { mode: 0o600 });
  return path;
};

/** Listens and dials with the given options; resolves once a frame went through. */
async function roundTrip(url: string, host: NatsTransportOptions, daemon: NatsTransportOptions): Promise<void> {
  const listener: Listener = await natsTransport(host).listen(url, { handshakeLimits: DEFAULT_LIMITS });
  try {
    const accepted = new Promise<Channel>((resolve) => (listener.onChannel = resolve));
    const channel = await natsTransport(daemon).dial(url, { limits: DEFAULT_LIMITS });
    const got = new Promise<number>((resolve) => (channel.onFrame = (f) => resolve(f.id)));
    (await accepted).send(frame(FrameType.Task, 77, []));
    expect(await got).toBe(77);
    channel.close();
  } finally {
    await listener.close();
  }
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe.skipIf(!enabled)('NATS credentials and TLS', () => {
  const servers: NatsServer[] = [];
  const start = async (config: string): Promise<NatsServer> => {
    const s = await NatsServer.start({ config });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await daemons(0);
  });
  afterAll(async () => {
    for (const s of servers) await s.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('user and password (inline or from a file); a wrong password fails without echoing it', async () => {
    const server = await start('authorization { user: "mirai", password: "s3cret-pw" }\n');
    const url = `${server.url}/auth/user`;
    const passFile = file('pass', 's3cret-pw');
    await roundTrip(url, { user: 'mirai', pass: 's3cret-pw' }, { user: 'mirai', passFile });
    const err = await failure(natsTransport({ user: 'mirai', pass: 'wrong-pw' }).dial(url, { limits: DEFAULT_LIMITS }));
    expect(err).toBeInstanceOf(NatsTransportError);
    expect(err.message).toMatch(/cannot connect to the NATS server/);
    expect(err.message).not.toContain('wrong-pw');
    const none = await failure(natsTransport().listen(url, { handshakeLimits: DEFAULT_LIMITS }));
    expect(none.message).toMatch(/authoriz|auth/i);
  });

  it('token (from a file)', async () => {
    const server = await start('authorization { token: "tok-123456" }\n');
    const tokenFile = file('token', 'tok-123456');
    await roundTrip(`${server.url}/auth/token`, { tokenFile }, { tokenFile });
    const err = await failure(natsTransport({ token: 'nope-999' }).dial(`${server.url}/auth/token`, { limits: DEFAULT_LIMITS }));
    expect(err.message).not.toContain('nope-999');
  });

  it('NKey seeds (from a file); a malformed seed file is a ConfigError', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const server = await start(`authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const nkeySeedFile = file('user.nk', seed);
    await roundTrip(`${server.url}/auth/nkey`, { nkeySeedFile }, { nkeySeedFile });
    const bad = await failure(natsTransport({ nkeySeedFile: file('bad.nk', 'not a seed') }).dial(`${server.url}/auth/nkey`, { limits: DEFAULT_LIMITS }));
    expect(isMiraiError(bad) && bad.kind).toBe('config');
    expect(bad.message).toMatch(/not an NKey seed/);
    expect(bad.message).not.toContain('not a seed');
  });

  it('a missing credentials file is a ConfigError naming the option and path', async () => {
    const err = await failure(natsTransport({ credsFile: join(dir, 'missing.creds') }).dial('nats://127.0.0.1:1/x', { limits: DEFAULT_LIMITS }));
    expect(isMiraiError(err) && err.kind).toBe('config');
    expect(err.message).toContain('credsFile');
    expect(err.message).toContain('missing.creds');
  });

  const openssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!openssl)('TLS to the server with a CA file; without the CA the server is not trusted', async () => {
    const run = (args: string[]): void => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mirai test CA']);
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
    const server = await start(`tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }\n`);
    const url = `${server.url}/auth/tls`;
    const tls = { caFile: join(dir, 'ca.pem') };
    await roundTrip(url, { tls }, { tls });
    const untrusted = await failure(natsTransport({ tls: true }).dial(url, { limits: DEFAULT_LIMITS }));
    expect(untrusted).toBeInstanceOf(NatsTransportError);
  });

  it('daemons get the credentials: transport options travel to them, dialOptions override them for daemons only', async () => {
    requireBuiltPackages();
    const server = await start(
      'authorization { users = [ { user: "host", password: "host-pw" }, { user: "worker", password: "worker-pw" } ] }\n',
    );
    const url = `${server.url}/auth/daemons`;
    // The host and its daemons as separate NATS users: the daemons' password file is theirs.
    const workerPass = file('worker-pass', 'worker-pw');
    await daemons(2, {
      url,
      transports: [natsTransport({ user: 'host', passFile: file('host-pass', 'host-pw') })],
      dialOptions: { user: 'worker', passFile: workerPass },
    });
    expect(await mirai(() => 6 * 7)).toBe(42);
    await daemons(0);
    // Daemons whose credentials are wrong do not connect; the launch error says so, no secret shown.
    const err = await failure(
      daemons(1, {
        url,
        transports: [natsTransport({ user: 'host', pass: 'host-pw' })],
        dialOptions: { user: 'worker', pass: 'bad-worker-pw' },
        launchTimeout: 20_000,
      }),
    );
    expect(isMiraiError(err) && err.kind).toBe('launch');
    expect(err.message).toMatch(/cannot connect to the NATS server/);
    expect(err.message).not.toContain('bad-worker-pw');
  }, 60_000);
});
