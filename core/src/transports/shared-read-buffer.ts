/**
 * Reads of the sockets a listener accepts, into one buffer that all of them share.
 *
 * Through 'data' events, every read of an accepted socket costs a fresh buffer, a `Readable`
 * push and a `maybeReadMore` tick: about 5 µs of host CPU per round trip, a tenth of a round
 * trip to a local daemon. Node lets a socket skip all of that with `onread`, but only a socket
 * the process dials. An accepted socket gets the same through what `onread` itself sets: the
 * socket's `kBuffer` and `kBufferCb` slots, and `useUserBuffer` on its handle. Those are
 * Node's internals, so each is checked first; where one is missing (another Node version),
 * the socket reads through 'data' events as before.
 *
 * One buffer serves every socket: a read is delivered at once, and the channel's decoder copies
 * what it keeps (FrameDecoder's `copyChunks`) before the next read can fill the buffer again.
 * So 10 000 daemons cost one buffer, not one each. Sockets the process dials read into the same
 * buffer through `onread` (StaticReader, socket-channel.ts). TLS sockets, accepted or dialled,
 * get their decrypted bytes the same way.
 */
import type { Socket } from 'node:net';

/** As large as a read of Node's own (libuv reads at most 64 KiB at a time). */
const SHARED_READ_BYTES = 64 * 1024;

let shared: Buffer | undefined;

/**
 * The one read buffer of this process (made on first use): accepted sockets read into it here,
 * dialled ones through `onread` (StaticReader). Sharing is safe because every read is handed
 * over and consumed (copied where kept) before the event loop can start the next one.
 */
export function sharedReadBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafeSlow(SHARED_READ_BYTES));
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/** The slots `onread` fills on a socket Node makes, found by their descriptions. */
interface OnreadSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
}

function onreadSlots(socket: Socket): OnreadSlots | undefined {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === 'kBuffer') buffer = key;
    else if (key.description === 'kBufferCb') callback = key;
  }
  return buffer !== undefined && callback !== undefined ? { buffer, callback } : undefined;
}

/**
 * Makes an accepted socket deliver its reads to `deliver(buffer, bytes)` instead of through
 * 'data' events: each read is the first `bytes` bytes of the shared `buffer`, valid only until
 * `deliver` returns (no view of it is made per read). Call it in the listener's 'connection'
 * handler, before the socket's first read. Returns false, changing nothing, where this Node
 * does not have what it needs: the socket then emits 'data' as usual.
 */
export function readIntoSharedBuffer(socket: Socket, deliver: (buffer: Buffer, bytes: number) => void): boolean {
  // A TLS socket works the same: its handle (TLSWrap) writes the bytes it decrypts into the
  // buffer, one read at a time, each delivered before the next. It writes them only when
  // encrypted bytes arrive (or for an empty write, which a channel never makes), never in the
  // middle of a write the channel makes while it handles a read.
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (typeof handle?.useUserBuffer !== 'function') return false;
  const slots = onreadSlots(socket);
  if (slots === undefined) return false;
  const own = socket as unknown as Record<symbol, unknown>;
  // Both slots exist (null) on every socket Node makes; anything else is not the layout we know.
  if (own[slots.buffer] !== null || own[slots.callback] !== null) return false;
  const readBuffer = sharedReadBuffer();
  own[slots.buffer] = readBuffer;
  // Node calls it with the bytes read and the buffer; false would stop reading.
  own[slots.callback] = (bytes: number, buffer: Buffer): boolean => {
    deliver(buffer, bytes);
    return true;
  };
  handle.useUserBuffer(readBuffer);
  return true;
}
