/**
 * Adding daemons to a running profile: `launchLocal()` and, as mirai's `launch_remote()`,
 * `launchRemote()`.
 */
import { ConfigError } from '../errors.js';
import { checkDaemonOptions } from '../host/profile-options.js';
import { checkCount, is, show } from '../options-check.js';
import type { Launcher } from '../launcher.js';
import { localLauncher } from '../launchers/local.js';
import { checkRemoteUrl } from '../launchers/remote-command.js';
import { remoteConfig, type RemoteLauncher } from '../launchers/remote.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import { currentPool } from './profile-scope.js';

/** Options of a launch into a running profile: daemon options for these daemons only. */
export type LaunchOptions = DaemonOptions & { readonly profile?: string };

/**
 * Starts `n` more local daemons for a running profile (to add capacity, or to replace
 * daemons that left); resolves once they have connected. `options` replace the profile's
 * daemon options for these daemons only.
 */
export async function launchLocal(n = 1, options: LaunchOptions = {}): Promise<void> {
  checkCount('launchLocal(n)', n, 0);
  const overrides = daemonOverrides('launchLocal()', options);
  const pool = currentPool(options.profile);
  await pool.launch(n, localLauncher(), overrides);
}

/**
 * Starts `n` daemons for a running profile with `remote`, like mirai's `launch_remote()`,
 * and returns the commands. With a manual `remoteConfig()` (no command) nothing is
 * started: the returned commands, pasted into a shell on another machine, join the profile.
 * Otherwise resolves once the daemons have connected; the returned commands then never
 * contain the secret.
 */
export async function launchRemote(n = 1, remote: Launcher = remoteConfig(), options: LaunchOptions = {}): Promise<string[]> {
  checkCount('launchRemote(n)', n, 1);
  if (typeof remote !== 'object' || remote === null || typeof remote.launch !== 'function') {
    throw new ConfigError(`launchRemote(n, remote): remote must be a launcher such as remoteConfig() or sshConfig(), got ${show(remote)}`);
  }
  const overrides = daemonOverrides('launchRemote()', options);
  const pool = currentPool(options.profile);
  const spec = pool.launchSpec(overrides);
  const manual = (remote as Partial<RemoteLauncher>).kind === 'remote' && (remote as RemoteLauncher).config.command === undefined;
  if (manual) {
    checkRemoteUrl(spec, 'launchRemote');
    return remote.commands!(spec, n);
  }
  await pool.launch(n, remote, overrides);
  return remote.commands?.(spec, n) ?? [];
}

/** The daemon options among `options`, checked; undefined when there are none. */
function daemonOverrides(where: string, options: LaunchOptions): DaemonOptions | undefined {
  checkDaemonOptions(options, where, { profile: is.string });
  const { profile: _profile, ...rest } = options;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
