import { readFileSync } from 'node:fs';
import { daemons, type DaemonsHandle } from '@mirai-ts/core';

/** Daemons that verify this host against your own CA instead of a zero-config one. */
export function daemonsWithOwnCertificate(files: { cert: string; key: string; ca: string }, url = 'tls+tcp://127.0.0.1:0'): Promise<DaemonsHandle> {
  return daemons(2, {
    url,
    listenOptions: {
      cert: readFileSync(files.cert, 'utf8'), // leaf first, then any intermediates
      key: readFileSync(files.key, 'utf8'),
      ca: readFileSync(files.ca, 'utf8'), // handed to daemons in their launch command
    },
  });
}
