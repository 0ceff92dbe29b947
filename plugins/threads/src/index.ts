/**
 * Thread daemons for mirai-ts: `daemons(4, threadDaemons())` runs four daemons as worker
 * threads of this process, behind the same API as process daemons. See docs/performance.md.
 */
import type { DaemonsOptions } from '@mirai-ts/core';
import { threadLauncher } from './thread-launcher.js';
import { threadTransport, type ThreadTransportOptions } from './thread-transport.js';

export { threadTransport, type ThreadTransportOptions } from './thread-transport.js';
export { threadLauncher, type ThreadWorkerData } from './thread-launcher.js';
export { PortChannel, TRANSFER_MIN_BYTES, RING_BYTES, RING_MAX_FRAME_BYTES, WAIT_SLICE_MS, WAIT_IDLE_MS, DEFAULT_SPIN_US } from './port-channel.js';

/**
 * The options that make a profile's daemons threads: a `thread://` URL, the thread transport
 * and launcher. Spread them into `daemons()`: `daemons(4, { ...threadDaemons(), prefetch: 8 })`.
 */
export function threadDaemons(options: ThreadTransportOptions = {}): Pick<DaemonsOptions, 'url' | 'transports' | 'launcher'> {
  return { url: 'thread://', transports: [threadTransport(options)], launcher: threadLauncher(options) };
}
