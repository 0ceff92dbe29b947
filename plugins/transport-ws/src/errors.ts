import { MiraiError } from '@mirai-ts/core';

/**
 * The WebSocket transport could not reach, or lost, its peer: refused connections, TLS
 * verification failures, an HTTP answer instead of an upgrade, a broken connection. Bad
 * options raise core's `ConfigError` instead.
 */
export class WsTransportError extends MiraiError {
  constructor(message: string, cause?: unknown) {
    super('plugin', message, cause === undefined ? {} : { cause });
  }
}
Object.defineProperty(WsTransportError.prototype, 'name', { value: 'WsTransportError', configurable: true, writable: true });
