/**
 * One connection to the NATS server, shared by a host's listener and all its channels, or
 * owned by one daemon's channel. Tracks whether the server is reachable right now and lets
 * callers decide whether the connection keeps the Node process alive.
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { withTimeout } from '@mirai-ts/core/plugin';
import { NatsTransportError } from './errors.js';
import { MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES } from './wire.js';

/** What a channel needs from its connection. */
export interface ConnectionEvents {
  /** The connection is back after an outage: check on the peer now. */
  onReconnect(): void;
  /** The connection is closed for good. */
  onConnectionClosed(reason: Error): void;
}

export class Connection {
  /** Since when the server has been unreachable (undefined while connected). */
  disconnectedSince: number | undefined;
  closed = false;
  private readonly watchers = new Set<ConnectionEvents>();
  private readonly holders = new Set<object>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly server: string,
  ) {
    this.patchHeartbeatTimer();
    void this.watch();
  }

  /** Connects; failures name the server but never the credentials. */
  static async open(options: NodeConnectionOptions, server: string): Promise<Connection> {
    let nc: NatsConnection;
    try {
      nc = await connect(options);
    } catch (err) {
      throw new NatsTransportError(`cannot connect to the NATS server ${server}: ${describe(err)}`, err);
    }
    // Channels cut frames into messages of at most this size: a server stating a size no
    // channel can work with (or none that is a whole number) is refused here, at once.
    const maxPayload = nc.info?.max_payload;
    if (maxPayload !== undefined && !(Number.isSafeInteger(maxPayload) && maxPayload >= MIN_MESSAGE_BYTES)) {
      await nc.close().catch(() => {});
      throw new NatsTransportError(`the NATS server ${server} states max_payload ${String(maxPayload)}; this transport needs a whole number of bytes >= ${MIN_MESSAGE_BYTES}`);
    }
    return new Connection(nc, server);
  }

  /**
   * The server's max_payload: the largest message it accepts (checked by `open`), capped at
   * the largest size peers may state, so both sides use sizes the other accepts.
   */
  get maxPayload(): number {
    const stated = this.nc.info?.max_payload ?? 1024 * 1024;
    // After a reconnect the server may state something else: never hand channels a fraction.
    return Number.isSafeInteger(stated) && stated >= MIN_MESSAGE_BYTES ? Math.min(stated, MAX_MESSAGE_BYTES) : MIN_MESSAGE_BYTES;
  }

  get connected(): boolean {
    return !this.closed && this.disconnectedSince === undefined;
  }

  addWatcher(w: ConnectionEvents): void {
    this.watchers.add(w);
  }

  removeWatcher(w: ConnectionEvents): void {
    this.watchers.delete(w);
  }

  /**
   * `holder` wants (or no longer wants) this connection to keep the process alive. The
   * socket is ref'd while any holder wants it, as core's socket transports do.
   */
  hold(holder: object, on: boolean): void {
    if (on) this.holders.add(holder);
    else this.holders.delete(holder);
    this.applyRef();
  }

  /** Sends what is buffered, then closes. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Whoever awaits the close must not see the process exit under it (exit code 13,
      // unsettled top-level await): keep the socket ref'd until it is closed.
      this.holders.clear();
      this.hold(this, true);
      try {
        await withTimeout(this.nc.flush(), 2_000, () => new Error('flush timed out'));
      } catch {
        // the server is gone: nothing left to flush
      }
      await this.nc.close().catch(() => {});
      this.closed = true;
    })();
    return this.closing;
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.disconnectedSince ??= Date.now();
      } else if (status.type === 'reconnect') {
        this.disconnectedSince = undefined;
        this.applyRef(); // a new socket: ref or unref it like the old one
        for (const w of [...this.watchers]) w.onReconnect();
      }
    }
    // The iterator ends when the connection closes.
    this.closed = true;
    const err = await this.nc.closed();
    const reason = new NatsTransportError(
      `the connection to the NATS server ${this.server} closed${err instanceof Error ? `: ${describe(err)}` : ''}`,
    );
    for (const w of [...this.watchers]) w.onConnectionClosed(reason);
    this.watchers.clear();
  }

  /**
   * nats.js keeps its socket and its ping timer ref'd. Whether a process may exit is the
   * host's call (core unrefs idle connections), so reach into the client: its transport's
   * socket and the heartbeat's timer. Pinned client version 3.4.0; if the shapes differ,
   * this does nothing and the connection simply keeps the process alive.
   */
  private applyRef(): void {
    const socket = internals(this.nc)?.transport?.socket;
    if (socket === undefined) return;
    if (this.holders.size > 0) socket.ref?.();
    else socket.unref?.();
    const timer = internals(this.nc)?.heartbeats?.timer;
    if (this.holders.size === 0) timer?.unref?.();
    else timer?.ref?.();
  }

  private patchHeartbeatTimer(): void {
    const heartbeats = internals(this.nc)?.heartbeats;
    if (heartbeats === undefined || typeof heartbeats._schedule !== 'function') return;
    const schedule = heartbeats._schedule.bind(heartbeats);
    heartbeats._schedule = () => {
      schedule();
      if (this.holders.size === 0) heartbeats.timer?.unref?.();
    };
  }
}

interface Refable {
  ref?(): void;
  unref?(): void;
}

interface ClientInternals {
  transport?: { socket?: Refable };
  heartbeats?: { timer?: Refable; _schedule?: () => void };
}

function internals(nc: NatsConnection): ClientInternals | undefined {
  return (nc as unknown as { protocol?: ClientInternals }).protocol;
}

/** An error message without anything that could be a credential. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
