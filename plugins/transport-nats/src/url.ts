/**
 * `nats://host:port/scope/…` URLs. The path is the scope: it names the subjects a host and
 * its daemons use, so hosts and profiles that share a NATS server never see each other's
 * traffic. Credentials never go in the URL: it appears in logs and daemon command lines.
 */
import { ConfigError } from '@mirai-ts/core';

/** One NATS subject token: no dots, wildcards or spaces. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** The default NATS port, as in every NATS client. */
export const DEFAULT_NATS_PORT = 4222;

/** Subjects of one scope. `id` is a channel's random id. */
export interface ScopeSubjects {
  /** `<prefix>.<scope>.connect`: daemons ask the host for a channel here. */
  readonly connect: string;
  /** `<prefix>.<scope>.c.*.h`: everything sent to the host, one subscription per host. */
  readonly toHostWildcard: string;
  toHost(id: string): string;
  toDaemon(id: string): string;
  /** The channel id of a subject matched by `toHostWildcard`. */
  idOf(subject: string): string | undefined;
}

export interface NatsAddress {
  /** What the NATS client dials: `nats://host:port`. */
  readonly server: string;
  /** The scope as subject tokens, e.g. `analytics` or `team.analytics`. */
  readonly scope: string;
  readonly subjects: ScopeSubjects;
}

/** Checks a subject prefix (`mirai`, `acme.mirai`). */
export function checkPrefix(prefix: string): string {
  if (prefix.split('.').some((t) => !TOKEN.test(t))) {
    throw new ConfigError(`NATS subject prefix '${prefix}' is invalid: use tokens of letters, digits, '-' and '_' separated by '.'`);
  }
  return prefix;
}

/** Parses a `nats://host[:port][/scope…]` URL. An empty path is the scope `default`. */
export function parseNatsUrl(url: string, prefix = 'mirai'): NatsAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid NATS URL '${url}': expected nats://host:port/scope`);
  }
  if (parsed.protocol !== 'nats:') throw new ConfigError(`invalid NATS URL '${url}': the scheme must be nats://`);
  if (parsed.username !== '' || parsed.password !== '') {
    // Do not echo the URL: it holds a secret.
    throw new ConfigError(
      'NATS credentials must not be in the URL, which appears in logs and daemon command lines: ' +
        'pass them to natsTransport({ user, passFile, token, tokenFile, nkeySeedFile, credsFile })',
    );
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new ConfigError(`invalid NATS URL '${url}': query strings and fragments are not supported`);
  }
  const host = parsed.hostname;
  if (host === '') throw new ConfigError(`invalid NATS URL '${url}': no host`);
  const port = parsed.port === '' ? DEFAULT_NATS_PORT : Number(parsed.port);
  const tokens = parsed.pathname.split('/').filter((t) => t !== '');
  for (const token of tokens) {
    if (!TOKEN.test(decodeURIComponent(token)) || decodeURIComponent(token) !== token) {
      throw new ConfigError(
        `invalid scope '${token}' in NATS URL '${url}': path segments may hold only letters, digits, '-' and '_'`,
      );
    }
  }
  const scope = tokens.length === 0 ? 'default' : tokens.join('.');
  return { server: `nats://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`, scope, subjects: subjectsFor(`${checkPrefix(prefix)}.${scope}`) };
}

function subjectsFor(base: string): ScopeSubjects {
  const channelBase = `${base}.c.`;
  return {
    connect: `${base}.connect`,
    toHostWildcard: `${channelBase}*.h`,
    toHost: (id) => `${channelBase}${id}.h`,
    toDaemon: (id) => `${channelBase}${id}.d`,
    idOf: (subject) => {
      if (!subject.startsWith(channelBase) || !subject.endsWith('.h')) return undefined;
      const id = subject.slice(channelBase.length, -2);
      return id.includes('.') ? undefined : id;
    },
  };
}

