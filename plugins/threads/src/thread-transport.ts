/**
 * The `thread://` transport: host and daemons in one process, each daemon in its own worker
 * thread, each connection a MessageChannel. A host listens at `thread://` (a fresh name) or
 * `thread://<name>`; a dial from the main thread connects directly, a dial from a worker this
 * package's launcher started posts one end of a new MessageChannel to the launcher, which hands
 * it to the listener.
 */
import { isMainThread, MessageChannel, MessagePort, parentPort } from 'node:worker_threads';
import { checkOptions, ConfigError, is, MAX_DAEMON_SPIN_US, type Channel, type DialOptions, type Listener, type ListenOptions, type Transport } from '@mirai-ts/core/daemon';
import { DEFAULT_SPIN_US, PortChannel } from './port-channel.js';

// The worker's entry (worker.ts, bundled with core's daemon side into one script) takes core's
// daemon loop from here.
export { runDaemon } from '@mirai-ts/core/daemon';

/** Options of {@link threadTransport}. */
export interface ThreadTransportOptions {
  /**
   * Move large typed-array buffers between threads instead of copying them (default false).
   * Fast (no copy of 100 MB), but the sender's array is detached once sent: the argument you
   * passed on the host (when its task is sent to a thread, which may be after `mirai()`
   * returned), or the value a task returned on its daemon. A frame sent again after its array
   * moved fails its task alone with a SerializationError (a task given an array an earlier one
   * took, a `retry` after a lost thread, `everywhere()` on a second thread): give each its own copy.
   */
  readonly transfer?: boolean;
  /**
   * The most µs a daemon thread polls for its next task right after sending a result, before
   * it sleeps in `Atomics.wait` (default: the profile's `spin`, which is 0 with `prefetch`
   * above 1, else 50; 0: never poll; at most 1000). How long within it, and when to skip a
   * poll, as core's PollPolicy decides for process daemons. Polling
   * takes a task that comes right after its result without waking a sleeping thread, which
   * costs more than the round trip's own work: on 2 CPUs, 50 µs more than doubled the tasks per
   * second of 2 threads and made a round trip 2–3× shorter when host and thread ran on different
   * CPUs. It spends up to this much CPU per result; a thread whose polls find nothing polls less
   * and less often (see docs/performance.md).
   */
  readonly spin?: number;
}

/** The message a worker posts to its launcher to dial `url`. */
export const DIAL_MESSAGE = 'mirai-ts.thread-dial';
export interface DialMessage {
  readonly type: typeof DIAL_MESSAGE;
  readonly url: string;
  readonly port: MessagePort;
}

/** Listeners of this process, by URL: what launchers hand dialled ports to. */
const listeners = new Map<string, ThreadListener>();

class ThreadListener implements Listener {
  onChannel: (channel: Channel) => void = (c) => c.close();
  private count = 0;
  constructor(
    readonly url: string,
    private readonly transfer: boolean,
  ) {}

  accept(port: MessagePort): void {
    const channel = new PortChannel(port, `thread ${++this.count}`, this.transfer);
    this.onChannel(channel);
  }

  async close(): Promise<void> {
    if (listeners.get(this.url) === this) listeners.delete(this.url);
  }

  ref(): void {}
  unref(): void {}
}

/**
 * Hands a port a worker dialled with to the listener at `url`, if that is the URL the worker
 * was started for (`launchedFor`); else closes it. The binding stands in for the secret's proof,
 * which an in-process channel skips (`Channel.inProcess`): a thread started for one profile
 * cannot join another's listener in the same process.
 */
export function acceptDial(message: unknown, launchedFor: string): boolean {
  // A task can post anything to parentPort: only a real port is taken, and nothing it sends
  // may throw here (in the Worker's 'message' handler, a throw would end the host).
  const m = message as Partial<DialMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== DIAL_MESSAGE || typeof m.url !== 'string' || !(m.port instanceof MessagePort)) return false;
  const listener = m.url === launchedFor ? listeners.get(m.url) : undefined;
  try {
    if (listener === undefined) m.port.close();
    else listener.accept(m.port);
  } catch (err) {
    process.stderr.write(`[mirai-ts] thread daemon dial to ${m.url} refused: ${(err as Error).message}\n`);
  }
  return true;
}

/** Names of `thread://` listeners given none, counted (unique among this thread's listeners). */
let freshNames = 0;

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`not a thread:// URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'thread:') throw new ConfigError(`the thread transport takes thread:// URLs, got ${JSON.stringify(url)}`);
  // A name only: `thread:///x` (a path) was taken as no name at all, and given a fresh one.
  if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.port !== '') {
    throw new ConfigError(`a thread:// URL is thread://<name> (or thread:// for a fresh name), with no path, port or query; got ${JSON.stringify(url)}`);
  }
  if (parsed.host !== '') return `thread://${parsed.host}`;
  let fresh: string;
  do fresh = `thread://mirai-${++freshNames}`;
  while (listeners.has(fresh));
  return fresh;
}

/** The rules of {@link ThreadTransportOptions}, in core's style (see `checkOptions`). */
const THREAD_OPTIONS = {
  transfer: is.boolean,
  spin: is.between(0, MAX_DAEMON_SPIN_US, 'µs'),
} as const;

/** Checks options; unknown keys and bad values are a ConfigError. */
export function checkThreadOptions(options: ThreadTransportOptions, where = 'threadTransport()'): { transfer: boolean; spin: number } {
  checkOptions(where, options, THREAD_OPTIONS);
  return { transfer: options.transfer ?? false, spin: options.spin ?? DEFAULT_SPIN_US };
}

/** A thread connection is a MessageChannel: there is nothing to configure per listen or dial. */
function refuseOptions(kind: 'listen' | 'dial', options: { readonly [key: string]: unknown }): void {
  const key = Object.keys(options)[0];
  if (key !== undefined) throw new ConfigError(`thread:// takes no ${kind} options, got '${key}' (threadDaemons() or threadTransport() take the thread's own)`);
}

/** A transport for `thread://` URLs (see {@link ThreadTransportOptions}). */
export function threadTransport(options: ThreadTransportOptions = {}): Transport {
  const { transfer, spin } = checkThreadOptions(options);
  return {
    schemes: ['thread'],
    checkListenOptions: (options) => refuseOptions('listen', options),
    checkDialOptions: (options) => refuseOptions('dial', options),
    async listen(url: string, _options: ListenOptions): Promise<Listener> {
      const bound = checkUrl(url);
      if (listeners.has(bound)) throw new ConfigError(`something already listens at ${bound}`);
      const listener = new ThreadListener(bound, transfer);
      listeners.set(bound, listener);
      return listener;
    },
    async dial(url: string, _options: DialOptions): Promise<Channel> {
      const { port1, port2 } = new MessageChannel();
      const target = url;
      if (isMainThread || parentPort === null) {
        const listener = listeners.get(target);
        if (listener === undefined) throw new Error(`nothing listens at ${target} in this process`);
        listener.accept(port1);
      } else {
        const message: DialMessage = { type: DIAL_MESSAGE, url: target, port: port1 };
        parentPort.postMessage(message, [port1]);
      }
      // A daemon thread's end waits for its frames; the main thread's never blocks.
      return new PortChannel(port2, 'thread host', transfer, isMainThread ? undefined : { spinUs: spin });
    },
  };
}
