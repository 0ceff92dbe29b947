import { ConfigError } from '@mirai-ts/core';

/** One SSH destination, from `ssh://[user@]host[:port]`. */
export interface SshRemote {
  /** The URL as given. */
  readonly url: string;
  readonly user: string | undefined;
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** `user@host` (or `host`): ssh's destination argument. */
  readonly destination: string;
}

/** Parses an `ssh://[user@]host[:port]` URL (port default 22). */
export function parseRemote(url: string): SshRemote {
  if (typeof url !== 'string') throw new ConfigError(`sshConfig: remotes must be strings like 'ssh://user@host:22', got ${typeof url}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`sshConfig: invalid remote '${url}': expected ssh://[user@]host[:port]`);
  }
  if (parsed.protocol !== 'ssh:') throw new ConfigError(`sshConfig: remote '${url}' must start with ssh://`);
  if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search !== '' || parsed.hash !== '' || parsed.password !== '') {
    throw new ConfigError(`sshConfig: remote '${url}' may only hold a user, a host and a port (keys and passwords go in ssh's own configuration)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  // ssh would read a leading '-' as an option; such names are never real hosts or users.
  if (host === '' || host.startsWith('-') || !/^[A-Za-z0-9._:%-]+$/.test(host)) throw new ConfigError(`sshConfig: remote '${url}' has an invalid host`);
  const user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  if (user !== undefined && (user.startsWith('-') || !/^[A-Za-z0-9._-]+\$?$/.test(user))) {
    throw new ConfigError(`sshConfig: remote '${url}' has an invalid user name`);
  }
  const port = parsed.port === '' ? 22 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`sshConfig: remote '${url}' has an invalid port`);
  return { url, user, host, port, destination: user === undefined ? host : `${user}@${host}` };
}
