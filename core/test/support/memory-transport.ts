/**
 * In-memory channels, a transport over them, and protocol-speaking fake daemons: the host's
 * dispatcher and pool run unchanged against them, with no processes and no sockets.
 */
import type { LaunchHandle, Launcher, LaunchSpec } from '../../src/launcher.js';
import type { Channel, DialOptions, Listener, ListenOptions, Transport } from '../../src/transport.js';
import { daemonHandshake } from '../../src/daemon/handshake.js';
import { frame, FrameFlag, FrameType, HANDSHAKE_LIMITS, type Frame, type FrameLimits } from '../../src/wire/frame.js';
import { encodePayload } from '../../src/wire/payload.js';
import { decodeTaskParams } from '../../src/wire/task-frame.js';
import { toErrorRecord } from '../../src/wire/error-record.js';
import type { MiraiError } from '../../src/errors.js';
import type { TaskOutcome } from '../../src/host/host-task.js';

/**
 * One end of an in-memory channel pair. Frames arrive in order, on a later microtask; frames
 * that arrive before `onFrame` is set wait for it, as bytes wait in a socket's buffer.
 */
export class MemoryChannel implements Channel {
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  /** Set by a dial with `inProcess` (tests of the handshake without proofs). */
  inProcess = false;
  other!: MemoryChannel;
  leaving = false;
  /** What this end was asked to do, in order: `send <id>` and `flush` (for tests of the order). */
  readonly calls: string[] = [];
  private handler: ((frame: Frame) => void) | undefined;
  private readonly backlog: Frame[] = [];
  constructor(readonly peer: string) {}

  get onFrame(): (frame: Frame) => void {
    return this.handler ?? ((f) => this.backlog.push(f));
  }

  set onFrame(handler: (frame: Frame) => void) {
    this.handler = handler;
    for (const f of this.backlog.splice(0)) handler(f);
  }

  send(f: Frame): void {
    if (this.closed) return;
    this.calls.push(`send ${f.id}`);
    const to = this.other;
    queueMicrotask(() => {
      if (!to.closed) to.onFrame(f);
    });
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.onClose(reason));
    // After the frames already on their way, as a socket delivers data before its FIN.
    const other = this.other;
    queueMicrotask(() => {
      if (other.closed) return;
      other.closed = true;
      other.onClose(reason ? new Error(`peer closed: ${reason.message}`) : undefined);
    });
  }

  /** Frames leave at once here: only recorded. */
  flush(): void {
    this.calls.push('flush');
  }

  peerLeaving(): void {
    this.leaving = true;
  }

  setLimits(_limits: FrameLimits): void {}
  ref(): void {}
  unref(): void {}
}

export function channelPair(): [host: MemoryChannel, daemon: MemoryChannel] {
  const host = new MemoryChannel('memory daemon');
  const daemon = new MemoryChannel('memory host');
  host.other = daemon;
  daemon.other = host;
  return [host, daemon];
}

/** Listeners by URL, so fake daemons can dial them. */
const listeners = new Map<string, MemoryListener>();
let nextUrl = 1;

class MemoryListener implements Listener {
  onChannel: (channel: Channel) => void = (c) => c.close();
  constructor(readonly url: string) {}
  async close(): Promise<void> {
    listeners.delete(this.url);
  }
  ref(): void {}
  unref(): void {}
}

/** A transport for `memory://` URLs; `memory://` alone gets a fresh address. */
export const memoryTransport: Transport = {
  schemes: ['memory'],
  async listen(url: string, _options: ListenOptions): Promise<Listener> {
    const bound = url === 'memory://' ? `memory://${nextUrl++}` : url;
    const listener = new MemoryListener(bound);
    listeners.set(bound, listener);
    return listener;
  },
  async dial(url: string, _options: DialOptions): Promise<Channel> {
    const listener = listeners.get(url);
    if (listener === undefined) throw new Error(`nothing listens at ${url}`);
    const [host, daemon] = channelPair();
    // Which ends call themselves in-process (Channel.inProcess): both, as the thread transport's do, or one, as no real transport would.
    const inProcess = _options.inProcess as { readonly host: boolean; readonly daemon: boolean } | undefined;
    host.inProcess = inProcess?.host ?? false;
    daemon.inProcess = inProcess?.daemon ?? false;
    listener.onChannel(host);
    return daemon;
  },
};

/** How a fake daemon answers a task: a value, a thrown error, or never (it waits to be released). */
export type Behaviour = (params: unknown[], taskId: number) => unknown;

/** A fake daemon: the real daemon handshake, then answers tasks as `behaviour` says. */
export class FakeDaemon {
  channel!: Channel;
  daemonId = 0;
  /** Ids of tasks received, in order. */
  readonly received: number[] = [];
  /** Ids of Cancel frames received. */
  readonly cancels: number[] = [];
  exitReceived = false;
  /** Tasks held by a behaviour that returned {@link HOLD}: answer them with `release`. */
  readonly held = new Map<number, (value: unknown) => void>();

  constructor(
    readonly behaviour: Behaviour,
    readonly launchId?: string,
    /** Which ends of its channel call themselves in-process (none by default). */
    readonly inProcess?: { readonly host: boolean; readonly daemon: boolean },
  ) {}

  async connect(url: string, secret: string): Promise<this> {
    this.channel = await memoryTransport.dial(url, { limits: HANDSHAKE_LIMITS, inProcess: this.inProcess });
    const { init, held } = await daemonHandshake(this.channel, secret, this.launchId ? { launchId: this.launchId } : {});
    this.daemonId = init.daemonId;
    this.channel.onFrame = (f) => this.onFrame(f);
    this.channel.onClose = () => {};
    for (const f of held) this.onFrame(f);
    return this;
  }

  /** Dies: the connection drops without a word. */
  crash(): void {
    this.channel.close(new Error('daemon crashed'));
  }

  release(taskId: number, value: unknown): void {
    const answer = this.held.get(taskId);
    this.held.delete(taskId);
    answer?.(value);
  }

  private onFrame(f: Frame): void {
    if (f.type === FrameType.Cancel) {
      this.cancels.push(f.id);
      return;
    }
    if (f.type === FrameType.Exit) {
      this.exitReceived = true;
      this.channel.close();
      return;
    }
    if (f.type !== FrameType.Task && f.type !== FrameType.Everywhere) return;
    this.received.push(f.id);
    const params = decodeTaskParams(f, []) as unknown[];
    const answer = (value: unknown, isError = false): void => {
      const segments = isError ? (encodePayload(toErrorRecord(value, () => true), [], 'error') as Uint8Array[]) : (encodePayload(value, [], 'result') as Uint8Array[]);
      this.channel.send(frame(FrameType.Result, f.id, segments, isError ? FrameFlag.Error : 0));
    };
    let value: unknown;
    try {
      value = this.behaviour(params, f.id);
    } catch (err) {
      answer(err, true);
      return;
    }
    if (value === HOLD) this.held.set(f.id, (v) => answer(v));
    else answer(value);
  }
}

/** A behaviour's answer meaning "keep running until released". */
export const HOLD = Symbol('hold');

/** A launcher that starts fake daemons; `launches` counts its calls. */
export class FakeLauncher implements Launcher {
  readonly kind = 'fake';
  launches = 0;
  readonly daemons: FakeDaemon[] = [];
  constructor(private readonly behaviour: Behaviour) {}

  async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
    this.launches++;
    const handles: LaunchHandle[] = [];
    for (let i = 0; i < n; i++) {
      const id = `fake-${this.launches}-${i}`;
      const daemon = new FakeDaemon(this.behaviour, id);
      this.daemons.push(daemon);
      void daemon.connect(spec.url, spec.secret);
      handles.push({ id, kill: () => daemon.crash() });
    }
    return handles;
  }
}

/** Waits until `predicate()` holds, failing after `ms`. */
export async function until(predicate: () => boolean, ms = 2_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A task outcome that records how it settled, and fails the test if it settles twice. */
export class RecordedOutcome implements TaskOutcome {
  value: unknown;
  error: MiraiError | undefined;
  settled = false;
  constructor(readonly id: number) {}
  _fulfil(value: unknown): void {
    this.settle();
    this.value = value;
  }
  _reject(error: MiraiError): void {
    this.settle();
    this.error = error;
  }
  private settle(): void {
    if (this.settled) throw new Error(`task ${this.id} settled twice`);
    this.settled = true;
  }
}
