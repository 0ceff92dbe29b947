/**
 * Real `nats-server` processes for tests: started on a free 127.0.0.1 port, waited for
 * until they accept connections, stopped by PID. Nothing is left running: every server
 * started here is also killed when the test process exits.
 *
 * The binary comes from Debian's `nats-server` package (`apt-get install -y nats-server`,
 * done by `.ci/run`). Without it, NATS tests are skipped — unless the CI environment
 * variable is set, where a missing server is a failure, not a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Path of the nats-server binary, or undefined when it is not installed. */
export function natsServerBinary(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];
  const candidates = fromEnv ? [fromEnv] : dirs.filter((d) => d !== '').map((d) => join(d, 'nats-server'));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether NATS tests run here: true when the binary exists. When it does not, false — or,
 * with CI set, an error (a missing server must not turn a CI run green by skipping).
 */
export function natsTestsEnabled(): boolean {
  if (natsServerBinary() !== undefined) return true;
  if (process.env.CI) {
    throw new Error('nats-server is not installed but CI is set: install it (apt-get install -y nats-server) in .ci/run');
  }
  return false;
}

export interface NatsServerOptions {
  /** Text of a nats-server configuration file (auth, TLS, max_payload, ...). */
  readonly config?: string;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A nats-server process on 127.0.0.1. */
export class NatsServer {
  private child: ChildProcess | undefined;
  private output = '';
  private boundPort = 0;

  private constructor(
    private readonly dir: string,
    private readonly argv: readonly string[],
  ) {}

  /** The port the server listens on (kept across restarts). */
  get port(): number {
    return this.boundPort;
  }

  /** `nats://127.0.0.1:<port>`: add a path for a mirai scope. */
  get url(): string {
    return `nats://127.0.0.1:${this.boundPort}`;
  }

  /** Starts a server on a free port and resolves once it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const bin = natsServerBinary();
    if (bin === undefined) throw new Error('nats-server is not installed (apt-get install -y nats-server)');
    const dir = mkdtempSync(join(tmpdir(), 'mirai-nats-'));
    const argv: string[] = ['-a', '127.0.0.1'];
    if (options.config !== undefined) {
      writeFileSync(join(dir, 'server.conf'), options.config);
      argv.push('-c', join(dir, 'server.conf'));
    }
    argv.push(...(options.args ?? []));
    // Port -1 lets the server pick a free port itself (no race with other tests); it
    // writes the port to a file in --ports_file_dir, which we read back.
    const server = new NatsServer(dir, argv);
    try {
      server.boundPort = await server.spawn(bin, ['-p', '-1', '--ports_file_dir', dir], true);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the server wrote to stderr (for failure messages). */
  get log(): string {
    return this.output;
  }

  /** Stops the server by PID (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      if (child) running.delete(child);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    running.delete(child);
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
    running.delete(child);
  }

  /**
   * Replaces the configuration file (servers started with `config` only); the next
   * `restart()` uses it, e.g. to turn authentication on under connected clients.
   */
  setConfig(text: string): void {
    if (!this.argv.includes('-c')) throw new Error('setConfig: this server was started without a config');
    writeFileSync(join(this.dir, 'server.conf'), text);
  }

  /** Starts the server again on the same port (after `stop()` or `kill()`). */
  async restart(): Promise<void> {
    if (this.child !== undefined) await this.stop();
    const bin = natsServerBinary()!;
    // The port was free a moment ago; retry briefly in case the kernel still holds it.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawn(bin, ['-p', String(this.port)], false);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async spawn(bin: string, portArgs: string[], readPortFile: boolean): Promise<number> {
    const child = spawn(bin, [...this.argv, ...portArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    this.child = child;
    this.output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-16_384);
    });
    const deadline = Date.now() + 20_000;
    let port = readPortFile ? 0 : this.boundPort;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(child);
        this.child = undefined;
        throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${this.output}`);
      }
      if (readPortFile && port === 0) port = readPort(this.dir, child.pid!) ?? 0;
      if (port !== 0 && (await accepts(port))) return port;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        running.delete(child);
        throw new Error(`nats-server did not accept connections within 20 s:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function readPort(dir: string, pid: number): number | undefined {
  const file = readdirSync(dir).find((f) => f === `nats-server_${pid}.ports`);
  if (file === undefined) return undefined;
  try {
    const ports = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nats?: string[] };
    const url = ports.nats?.[0];
    return url === undefined ? undefined : Number(new URL(url).port);
  } catch {
    return undefined; // half-written
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('data', () => {
      // nats-server greets with INFO: it is the server, ready.
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts a server for a test file; call the returned function in afterAll. */
export async function startNatsServer(options?: NatsServerOptions): Promise<NatsServer> {
  return NatsServer.start(options);
}
