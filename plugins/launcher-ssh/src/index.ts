/**
 * @mirai-ts/launcher-ssh: start mirai-ts daemons on other machines over SSH.
 *
 * ```ts
 * import { daemons, hostUrl } from '@mirai-ts/core';
 * import { sshConfig } from '@mirai-ts/launcher-ssh';
 * await daemons(2, { url: hostUrl({ tls: true }).eth0, remote: sshConfig({ remotes: ['ssh://me@node1'] }) });
 * ```
 */
export { sshConfig, type SshConfigOptions, type SshLauncher } from './ssh-config.js';
export { parseRemote, type SshRemote } from './remotes.js';
