/**
 * @mirai-ts/transport-nats: daemons anywhere a NATS server reaches.
 *
 * ```ts
 * import { daemons, mirai } from '@mirai-ts/core';
 * import { natsTransport } from '@mirai-ts/transport-nats';
 * await daemons(4, { url: 'nats://127.0.0.1:4222/analytics', transports: [natsTransport()] });
 * ```
 */
export { natsTransport, PACKAGE_NAME, type NatsTransport } from './nats-transport.js';
export type { NatsTransportOptions, NatsTlsOptions } from './options.js';
export { NatsTransportError } from './errors.js';
export { parseNatsUrl, type NatsAddress, type ScopeSubjects } from './url.js';
