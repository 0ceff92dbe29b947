/**
 * The host's half of the handshake, the mirror of `daemon/handshake.ts`: send a Challenge,
 * check the Hello's protocol and proof of the secret, and answer with Init (the host's own
 * proof). A connection that does not prove the secret in time is refused. An in-process
 * channel (`Channel.inProcess`) exchanges the same messages without proofs.
 */
import type { PluginRef } from '../transport.js';
import type { Channel } from '../transport.js';
import { newNonce, prove, verify } from '../wire/auth.js';
import { frame, FrameType, frameTypeName, HANDSHAKE_LIMITS, jsonSegment, PROTOCOL_VERSION, readJsonSegment, type Frame } from '../wire/frame.js';
import type { StreamState } from '../wire/random-stream.js';
import type { ChallengeMessage, HelloMessage, InitMessage, SerializerRef } from '../wire/messages.js';

/** What admission reports about one connection. */
export interface AdmissionOutcome {
  /** The peer proved the secret: answer with {@link Admitted.accept}. */
  admitted(hello: HelloMessage, admitted: Admitted): void;
  /**
   * The peer was refused (`why`), or hung up during the handshake. `counted` is false for a
   * clean hang-up with nothing said, which is not an attack and not counted.
   */
  refused(why: string, counted: boolean): void;
}

/** A connection past the secret check, before the host has answered. */
export interface Admitted {
  /** Sends Init: the host's proof, the id the peer gets, the serializers it must load, and the rest of the daemon's session. */
  accept(daemonId: number, serializers: readonly SerializerRef[], session?: SessionSettings): void;
}

/** What Init tells a daemon beside its id and serializers. */
export interface SessionSettings {
  /** Its random stream (absent for a watchdog). */
  readonly stream?: StreamState | undefined;
  readonly instrumentation?: readonly PluginRef[];
  /** The profile's `maxResultBytes`, when it has one. */
  readonly maxResultBytes?: number;
}

/** Runs the handshake on a new connection. Until it ends, the channel's handlers are admission's. */
export function admit(channel: Channel, secret: string, timeoutMs: number, outcome: AdmissionOutcome): void {
  let done = false;
  const finish = (): boolean => {
    if (done) return false;
    done = true;
    clearTimeout(timer);
    return true;
  };
  const refuse = (why: string, counted = true): void => {
    if (!finish()) return;
    channel.close();
    outcome.refused(why, counted);
  };
  const timer = setTimeout(() => refuse(`no handshake within ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  channel.setLimits(HANDSHAKE_LIMITS);
  // Read once: the same channel for the whole handshake.
  const proofs = channel.inProcess !== true;
  const hostNonce = proofs ? newNonce() : '';
  channel.onClose = (reason) => {
    if (finish()) outcome.refused(reason ? `the connection failed during the handshake: ${reason.message}` : 'hung up during the handshake', reason !== undefined);
  };
  channel.onFrame = (f: Frame) => {
    if (done) return;
    const why = checkHello(f, proofs ? secret : undefined, hostNonce);
    if (typeof why === 'string') return refuse(why);
    finish();
    outcome.admitted(why, {
      accept(daemonId, serializers, { stream, instrumentation = [], maxResultBytes } = {}) {
        const proof = proofs ? prove(secret, 'host', hostNonce, why.nonce) : '';
        const init: InitMessage = { proof, daemonId, serializers: [...serializers], ...(stream ? { stream: [...stream] } : {}) };
        if (instrumentation.length > 0) init.instrumentation = [...instrumentation];
        if (maxResultBytes !== undefined && Number.isFinite(maxResultBytes)) init.maxResultBytes = maxResultBytes;
        channel.send(frame(FrameType.Init, 0, [jsonSegment(init)]));
      },
    });
  };
  const challenge: ChallengeMessage = { protocol: PROTOCOL_VERSION, nonce: hostNonce };
  channel.send(frame(FrameType.Challenge, 0, [jsonSegment(challenge)]));
}

/** The Hello in `f` if it proves the secret (undefined: an in-process channel, no proof), else why not. */
function checkHello(f: Frame, secret: string | undefined, hostNonce: string): HelloMessage | string {
  if (f.type !== FrameType.Hello) return `expected Hello, got ${frameTypeName(f.type)}`;
  let hello: HelloMessage;
  try {
    hello = readJsonSegment<HelloMessage>(f.segments[0]);
  } catch (err) {
    return `unreadable Hello (${(err as Error).message})`;
  }
  if (typeof hello !== 'object' || hello === null) return 'unreadable Hello (not an object)';
  if (hello.protocol !== PROTOCOL_VERSION) return `protocol version ${String(hello.protocol)} (this host speaks ${PROTOCOL_VERSION})`;
  if (typeof hello.nonce !== 'string') return 'wrong secret';
  if (secret !== undefined && !verify(secret, 'daemon', hostNonce, hello.nonce, hello.proof)) return 'wrong secret';
  return hello;
}

/**
 * Logs refused connections, at most 20 per 10 s: a flood of bad connections must not flood
 * the log too. The count in `status().rejected` stays exact.
 */
export class RefusalLog {
  private windowStart = 0;
  private logged = 0;
  private unlogged = 0;

  constructor(
    private readonly profile: string,
    private readonly log: (level: 'info' | 'warn', message: string) => void,
  ) {}

  refused(peer: string, why: string): void {
    const now = Date.now();
    if (now - this.windowStart > 10_000) {
      if (this.unlogged > 0) this.log('warn', `profile '${this.profile}': ${this.unlogged} more refused connections were not logged`);
      this.windowStart = now;
      this.logged = 0;
      this.unlogged = 0;
    }
    if (this.logged < 20) {
      this.logged++;
      this.log('warn', `profile '${this.profile}': refused a connection from ${peer}: ${why}`);
    } else this.unlogged++;
  }
}
