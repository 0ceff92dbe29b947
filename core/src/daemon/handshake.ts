/**
 * The daemon's side of the handshake: answer the host's Challenge with proof of the secret,
 * then check the host's proof in Init. Shared by the daemon and its watchdog. An in-process
 * channel (`Channel.inProcess`) exchanges the same messages without proofs, so a thread daemon
 * never loads `node:crypto`.
 */
import { hostname } from 'node:os';
import { newNonce, prove, verify } from '../wire/auth.js';
import { AuthError, ProtocolError } from '../errors.js';
import { DaemonExit } from '../wire/exit-codes.js';
import {
  DEFAULT_LIMITS,
  frame,
  FrameType,
  INIT_LIMITS,
  jsonSegment,
  PROTOCOL_VERSION,
  readJsonSegment,
  type Frame,
} from '../wire/frame.js';
import type { ChallengeMessage, HelloMessage, InitMessage } from '../wire/messages.js';
import type { Channel } from '../transport.js';

/** How long a daemon waits for the host's Challenge after connecting. */
const CHALLENGE_TIMEOUT_MS = 5_000;

const NOT_MIRAI_HOST =
  'not a mirai-ts host, or a host that expects TLS (dial tls+tcp:// instead of tcp://) or another transport';

/** The host's Init, and the frames that arrived right after it (the caller replays them). */
export interface Accepted {
  readonly init: InitMessage;
  readonly held: Frame[];
}

/**
 * Runs the handshake on a fresh channel. Rejects with an error carrying `exitCode`
 * (AuthFailed, ProtocolError) when the host or the secret does not check out.
 *
 * Once it resolves, the channel's closing is the caller's to handle: it should set `onClose`
 * at once (before awaiting anything else, such as plugin imports), and check `channel.closed`,
 * since the channel may close before its continuation runs.
 */
export function daemonHandshake(
  channel: Channel,
  secret: string,
  extra: Pick<HelloMessage, 'launchId' | 'watch'> = {},
): Promise<Accepted> {
  return new Promise((resolve, reject) => {
    const proofs = channel.inProcess !== true;
    const daemonNonce = proofs ? newNonce() : '';
    let hostNonce = '';
    let stage: 'challenge' | 'init' | 'done' = 'challenge';
    const fail = (err: Error, exitCode: number): void => {
      clearTimeout(timer);
      channel.onClose = () => {};
      channel.close(err);
      reject(Object.assign(err, { exitCode }));
    };
    // A mirai-ts host sends its Challenge as soon as it accepts a connection. Silence means
    // something else listens there; most often a TLS host dialled with tcp://.
    const timer = setTimeout(
      () => fail(new ProtocolError(`no Challenge from the host within ${CHALLENGE_TIMEOUT_MS} ms: ${NOT_MIRAI_HOST}`), DaemonExit.ProtocolError),
      CHALLENGE_TIMEOUT_MS,
    );
    channel.onClose = (reason) => {
      // Accepted: a close now is the loss of a connection that was made (see above), not a refusal.
      if (stage === 'done') return;
      const why = reason ? ` (${reason.message})` : '';
      if (stage === 'challenge') {
        fail(new ProtocolError(`the host closed the connection before its Challenge${why}: ${NOT_MIRAI_HOST}`), DaemonExit.ProtocolError);
      } else if (reason instanceof ProtocolError) {
        // This side closed it: the host's Init broke the protocol (too large, malformed), which says nothing of the secret.
        fail(new ProtocolError(`the host's Init was refused${why}`), DaemonExit.ProtocolError);
      } else {
        fail(new AuthError(`the host refused this daemon's proof${why}: wrong secret, or a host of another protocol version`), DaemonExit.AuthFailed);
      }
    };
    channel.onFrame = (f) => {
      try {
        if (stage === 'challenge' && f.type === FrameType.Challenge) {
          const challenge = readJsonSegment<ChallengeMessage>(f.segments[0]);
          if (challenge.protocol !== PROTOCOL_VERSION) {
            return fail(
              new ProtocolError(`host speaks protocol ${challenge.protocol}, this daemon ${PROTOCOL_VERSION}: update one of them`),
              DaemonExit.ProtocolError,
            );
          }
          hostNonce = String(challenge.nonce);
          const hello: HelloMessage = {
            protocol: PROTOCOL_VERSION,
            proof: proofs ? prove(secret, 'daemon', hostNonce, daemonNonce) : '',
            nonce: daemonNonce,
            pid: process.pid,
            hostname: hostname(),
            ...extra,
          };
          clearTimeout(timer);
          channel.send(frame(FrameType.Hello, 0, [jsonSegment(hello)]));
          channel.setLimits(INIT_LIMITS);
          stage = 'init';
          return;
        }
        if (stage === 'init' && f.type === FrameType.Init) {
          const init = readJsonSegment<InitMessage>(f.segments[0]);
          if (proofs && !verify(secret, 'host', hostNonce, daemonNonce, init.proof)) {
            return fail(new AuthError('the host did not prove the secret: refusing to run its tasks'), DaemonExit.AuthFailed);
          }
          channel.setLimits(DEFAULT_LIMITS);
          // The host may send frames right after Init: hold them for the caller.
          const held: Frame[] = [];
          channel.onFrame = (early) => held.push(early);
          stage = 'done';
          resolve({ init, held });
          return;
        }
        fail(new ProtocolError(`unexpected frame type ${f.type} during the handshake`), DaemonExit.ProtocolError);
      } catch (err) {
        fail(new ProtocolError(`bad handshake frame: ${(err as Error).message}`), DaemonExit.ProtocolError);
      }
    };
  });
}
