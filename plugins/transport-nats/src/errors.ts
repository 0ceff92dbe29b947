import { MiraiError } from '@mirai-ts/core';

/**
 * The NATS transport could not reach, or lost, what it needs: the NATS server, a host
 * listening at the URL's scope, or a peer. Bad options raise core's `ConfigError` instead.
 */
export class NatsTransportError extends MiraiError {
  constructor(message: string, cause?: unknown) {
    super('plugin', message, cause === undefined ? {} : { cause });
  }
}
Object.defineProperty(NatsTransportError.prototype, 'name', { value: 'NatsTransportError', configurable: true, writable: true });
