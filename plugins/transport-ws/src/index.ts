/**
 * @mirai-ts/transport-ws: daemons reach a host over WebSockets (`ws://`, `wss://`), through
 * HTTP proxies and ingress controllers.
 *
 * ```ts
 * import { daemons, mirai } from '@mirai-ts/core';
 * import { wsTransport } from '@mirai-ts/transport-ws';
 * await daemons(4, { url: 'wss://127.0.0.1:0/mirai', transports: [wsTransport()] });
 * ```
 */
export { wsTransport, PACKAGE_NAME, type WsTransport } from './ws-transport.js';
export type { WsTransportOptions, WsListenOptions, WsDialOptions } from './options.js';
export { WsTransportError } from './errors.js';
export { MAX_MESSAGE_BYTES } from './channel.js';
export { parseWsUrl, type WsAddress } from './url.js';
