import { daemons, localUrl, type DaemonsHandle } from '@mirai-ts/core';
import { sshConfig } from '@mirai-ts/launcher-ssh';

/**
 * Two daemons on each remote machine, which reach this host through a reverse SSH tunnel:
 * this host need not be reachable from them, only they from here (by ssh).
 */
export function sshDaemons(remotes: string[], sshOptions: string[] = []): Promise<DaemonsHandle> {
  return daemons(2 * remotes.length, {
    url: localUrl({ tcp: true }), // tcp://127.0.0.1:<any free port>; tls+tcp://127.0.0.1:0 works too
    remote: sshConfig({ remotes, tunnel: true, sshOptions }),
  });
}
