/**
 * A daemon's watchdog: a worker thread with its own connection to the host. A task stuck in
 * synchronous code blocks the daemon's thread, so it cannot hear a Cancel; when the host
 * says Replace on this connection, the watchdog starts a fresh daemon with the same command
 * line and ends this process. The fresh daemon dials in and gets `everywhere()` set-up again.
 * And when the host goes away while a task keeps the daemon busy, it enforces `autoexit`.
 */
import { spawn } from 'node:child_process';
import { workerData } from 'node:worker_threads';
import { SECRET_ENV } from '../wire/auth.js';
import { SECRET_STDIN_FLAG } from '../wire/daemon-args.js';
import { daemonHandshake } from './handshake.js';
import { FrameType, HANDSHAKE_LIMITS } from '../wire/frame.js';
import { loadTransport } from './load-transport.js';
import type { PluginRef } from '../transport.js';

/** What the daemon hands its watchdog thread. */
export interface WatchdogData {
  readonly url: string;
  readonly secret: string;
  readonly daemonId: number;
  readonly transportRef?: PluginRef;
  readonly dialOptions: Record<string, unknown>;
  /** How to start a fresh daemon: this process's own command line. */
  readonly respawn: { readonly execPath: string; readonly args: readonly string[]; readonly cwd: string };
  /** The daemon's autoexit: with `true`, a daemon stuck in a task when its host goes is ended. */
  readonly autoexit: boolean | 'finish';
  /** Shared with the daemon's thread: [busy (0/1)]. */
  readonly taskState: Int32Array;
}

/** How long after its host is gone a daemon stuck in a task is ended (autoexit's grace is 200 ms). */
const STUCK_AFTER_HOST_GONE_MS = 1_000;

async function watch(data: WatchdogData): Promise<void> {
  const transport = await loadTransport(data.url, data.transportRef);
  const channel = await transport.dial(data.url, { limits: HANDSHAKE_LIMITS, ...data.dialOptions });
  await daemonHandshake(channel, data.secret, { watch: data.daemonId });
  // The connection keeps this thread alive; the daemon unrefs the thread, so it does not
  // keep the daemon alive.
  // The daemon handles its host going away itself, unless a task keeps its thread busy:
  // then autoexit could not act, and the daemon would spin on with no one to stop it.
  // Busy or not when the host went: a task already read before the host's going (its bytes
  // arrive with the close) starts after it, and then hears nothing either. An idle daemon
  // exits by itself well within the wait; one still in a task after it is stuck.
  channel.onClose = () => {
    if (data.autoexit !== true) return;
    setTimeout(() => {
      if (Atomics.load(data.taskState, 0) === 1) process.kill(process.pid, 'SIGKILL');
    }, STUCK_AFTER_HOST_GONE_MS);
  };
  channel.onFrame = (f) => {
    if (f.type !== FrameType.Replace) return;
    // The fresh daemon gets the secret the way this one did: on stdin, or in its environment.
    const onStdin = data.respawn.args.includes(SECRET_STDIN_FLAG);
    const child = spawn(data.respawn.execPath, [...data.respawn.args], {
      cwd: data.respawn.cwd,
      env: onStdin ? process.env : { ...process.env, [SECRET_ENV]: data.secret },
      detached: true,
      // It writes where this one did (a terminal, an ssh session).
      stdio: [onStdin ? 'pipe' : 'inherit', 'inherit', 'inherit'],
    });
    child.stdin?.end(`${data.secret}\n`);
    child.unref();
    process.kill(process.pid, 'SIGKILL');
  };
}

watch(workerData as WatchdogData).catch((err: Error) => {
  process.stderr.write(`[mirai-daemon ${process.pid}] watchdog could not connect: ${err.message}\n`);
});
