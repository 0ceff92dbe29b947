/**
 * A "host" that sends its Challenge and never answers the Hello: a daemon dialling it waits
 * for its Init for ever, as one whose host hangs, or whose launch timed out before it connected.
 */
import { createServer, type Socket } from 'node:net';
import { encodeFrame, frame, FrameType, PROTOCOL_VERSION } from '@mirai-ts/core/plugin';

export interface SilentHost {
  /** tcp://127.0.0.1:<port> */
  readonly url: string;
  /** Whether a daemon's Hello has come in. */
  helloSeen(): boolean;
  /** Drops its connections and stops listening. */
  close(): void;
}

export async function silentHost(): Promise<SilentHost> {
  const challenge = Buffer.concat(encodeFrame(frame(FrameType.Challenge, 0, [Buffer.from(JSON.stringify({ protocol: PROTOCOL_VERSION, nonce: 'n' }))])));
  let seen = false;
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.once('data', () => (seen = true));
    socket.write(challenge);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `tcp://127.0.0.1:${(server.address() as { port: number }).port}`,
    helloSeen: () => seen,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
