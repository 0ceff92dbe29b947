/**
 * `httpConfig()`: start daemons by calling an HTTP API (mirai's `http_config()`), such as
 * a job or workload endpoint of a compute platform. One request per daemon, with the
 * daemon's shell command in the body; Node's global `fetch`, no dependency.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { checkOptions, is } from '../options-check.js';
import { ConfigError, LaunchError } from '../errors.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import { withTimeout } from '../util/with-timeout.js';
import { secretRedactor } from './redact.js';
import { remoteDaemonCommand, type RemoteDaemonProgram } from './remote-command.js';

/** A value given as is, or a function (sync or async) called for every request: fresh credentials. */
export type HttpValue<T> = T | (() => T | Promise<T>);

/** Options of {@link httpConfig}. */
export interface HttpConfigOptions extends RemoteDaemonProgram {
  /** The endpoint. `https://`, or `http://` to a loopback address (or with `allowHttp`). */
  readonly url: HttpValue<string>;
  /** HTTP method. Default `'POST'`. */
  readonly method?: HttpValue<string>;
  /** Extra request headers. `Content-Type` defaults to `application/json`. */
  readonly headers?: HttpValue<Readonly<Record<string, string>>>;
  /**
   * The body template. {@link HTTP_PLACEHOLDER} (`%s`, as in mirai) appears in it exactly
   * once, inside a JSON string, and becomes the daemon's shell command, JSON-escaped
   * (without the quotes): `'{"command": "%s"}'`. Default `'{"command":"%s"}'`.
   */
  readonly data?: HttpValue<string>;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: HttpValue<string>;
  /** Sent as the `Cookie` header. */
  readonly cookie?: HttpValue<string>;
  /** How long one request may take, in ms (connect, answer and body). Default 30000. */
  readonly timeout?: number;
  /** Allow `http://` to a non-loopback host: the secret would cross the network in clear. Default false. */
  readonly allowHttp?: boolean;
}

/** A launcher from {@link httpConfig}. */
export interface HttpLauncher extends Launcher {
  readonly kind: 'http';
}

/** Where the daemon command goes in `data`. */
export const HTTP_PLACEHOLDER = '%s';
const DEFAULT_DATA = '{"command":"%s"}';
const DEFAULT_TIMEOUT_MS = 30_000;
/** How much of an error answer's body a LaunchError quotes. */
const BODY_QUOTE_CHARS = 500;
const VALUE_KEYS = ['url', 'method', 'headers', 'data', 'token', 'cookie'] as const;

/**
 * A launcher that starts each daemon with one HTTP request (mirai's `http_config()`).
 *
 * ```ts
 * await daemons(4, {
 *   url: hostUrl({ tls: true }).eth0,
 *   launcher: httpConfig({
 *     url: 'https://jobs.example.org/api/launch',
 *     token: () => readFile('/run/secrets/api-token', 'utf8'), // fresh for every request
 *     data: '{"image": "node:20", "cmd": ["sh", "-c", "%s"]}',
 *   }),
 * });
 * ```
 *
 * The API starts the command on another machine, so the command carries the profile's secret
 * (inline, `MIRAI_SECRET='…' exec node …`; the daemon's argv stays clean): whoever can read
 * the request or the API's job records can read the secret. Requests therefore go over
 * HTTPS only (plain HTTP to loopback, or with `allowHttp`), and the secret, token and cookie
 * are replaced by `<secret>` in every error this launcher raises.
 */
export function httpConfig(options: HttpConfigOptions): HttpLauncher {
  const config = checkConfig(options);
  const timeoutMs = config.timeout ?? DEFAULT_TIMEOUT_MS;
  const program: RemoteDaemonProgram = {
    ...(config.node !== undefined ? { node: config.node } : {}),
    ...(config.script !== undefined ? { script: config.script } : {}),
    ...(config.cwd !== undefined ? { cwd: config.cwd } : {}),
  };
  const command = (spec: LaunchSpec, id: string): string => remoteDaemonCommand(spec, program, { secret: 'inline', launchIds: [id], exec: true });

  return {
    kind: 'http',
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      const ids = Array.from({ length: n }, () => randomUUID());
      const outcomes = await Promise.allSettled(ids.map((id) => request(config, timeoutMs, spec.secret, command(spec, id))));
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) {
        const started = outcomes.filter((o) => o.status === 'fulfilled').length;
        const error = failed.reason as LaunchError;
        throw started === 0 ? error : new LaunchError(`${error.message} (${started} of ${n} requests succeeded; those daemons may still join)`, error.cause);
      }
      // Untracked: the API returns long before its daemon connects; the connection is the signal.
      return ids.map((id) => ({ id }));
    },
    commands(spec: LaunchSpec, n: number): string[] {
      return Array.from({ length: n }, () => command({ ...spec, secret: '<secret>' }, '<launch id>'));
    },
  };
}

/** One request; resolves on a 2xx answer, rejects with a LaunchError that holds no secret. */
async function request(config: HttpConfigOptions, timeoutMs: number, secret: string, command: string): Promise<void> {
  const redact = secretRedactor([secret]);
  // The timeout covers the option functions too: a credential function that never settles
  // must fail the request, not hang the launch. One deadline: the request gets what is left.
  const signal = AbortSignal.timeout(timeoutMs);
  let timedOut = false;
  let values: Resolved;
  try {
    values = await withTimeout(resolveValues(config), timeoutMs, () => {
      timedOut = true;
      return new LaunchError(`httpConfig: the option functions did not return within ${timeoutMs} ms (the 'timeout' option)`);
    });
  } catch (err) {
    if (err instanceof ConfigError || timedOut) throw err;
    throw new LaunchError(`httpConfig: an option function failed: ${redact((err as Error)?.message ?? String(err))}`);
  }
  const clean = secretRedactor([secret, values.token, values.cookie]);
  const target = checkUrl(values.url, config.allowHttp === true);
  const template = values.data;
  const at = template.indexOf(HTTP_PLACEHOLDER);
  if (at === -1 || template.indexOf(HTTP_PLACEHOLDER, at + 1) !== -1) {
    throw new ConfigError(`httpConfig: 'data' must contain the placeholder '${HTTP_PLACEHOLDER}' exactly once (where the daemon command goes), got ${JSON.stringify(clean(template).slice(0, 200))}`);
  }
  const body = template.slice(0, at) + JSON.stringify(command).slice(1, -1) + template.slice(at + HTTP_PLACEHOLDER.length);
  const headers = new Headers();
  try {
    for (const [name, value] of Object.entries(values.headers)) headers.set(name, value);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    if (values.token !== undefined) headers.set('authorization', `Bearer ${values.token}`);
    if (values.cookie !== undefined) headers.set('cookie', values.cookie);
  } catch (err) {
    // Headers' TypeError may quote the value: a token or cookie.
    throw new ConfigError(`httpConfig: a request header was refused: ${clean((err as Error).message)}`);
  }
  const what = `httpConfig: ${values.method} ${clean(target.origin + target.pathname)}`;
  let response: Response;
  try {
    response = await fetch(target, { method: values.method, headers, body, signal, redirect: 'error' });
  } catch (err) {
    if (signal.aborted) throw new LaunchError(`${what} did not answer within ${timeoutMs} ms (the 'timeout' option)`);
    const cause = (err as Error & { cause?: Error }).cause;
    throw new LaunchError(`${what} failed: ${clean((err as Error).message)}${cause?.message ? `: ${clean(cause.message)}` : ''}`);
  }
  if (response.ok) {
    // Drain the body so the connection is reused or closed, within the same timeout.
    await response.arrayBuffer().catch(() => undefined);
    return;
  }
  let text = '';
  try {
    text = await response.text();
  } catch {
    text = signal.aborted ? `(the body did not arrive within ${timeoutMs} ms)` : '(the body could not be read)';
  }
  const quoted = clean(text).replace(/\s+/g, ' ').trim();
  const shown = quoted.length > BODY_QUOTE_CHARS ? `${quoted.slice(0, BODY_QUOTE_CHARS)}… (${quoted.length} characters)` : quoted;
  throw new LaunchError(`${what} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${shown ? `: ${shown}` : ''}`);
}

interface Resolved {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: string;
  readonly token: string | undefined;
  readonly cookie: string | undefined;
}

/** Calls the function-valued options (in parallel) and checks what they return. */
async function resolveValues(config: HttpConfigOptions): Promise<Resolved> {
  const get = async <T>(key: (typeof VALUE_KEYS)[number]): Promise<T | undefined> => {
    const value = config[key];
    return (typeof value === 'function' ? await (value as () => T | Promise<T>)() : value) as T | undefined;
  };
  const [url, method, headers, data, token, cookie] = await Promise.all([
    get<string>('url'),
    get<string>('method'),
    get<Record<string, string>>('headers'),
    get<string>('data'),
    get<string>('token'),
    get<string>('cookie'),
  ]);
  const text = (key: string, v: unknown, optional: boolean): void => {
    if (v === undefined && optional) return;
    if (typeof v !== 'string' || v === '') throw new ConfigError(`httpConfig: '${key}' must give a non-empty string, got ${v === undefined ? 'undefined' : typeof v}`);
  };
  text('url', url, false);
  text('method', method, true);
  text('data', data, true);
  text('token', token, true);
  text('cookie', cookie, true);
  checkHeaderValue("'token'", token);
  checkHeaderValue("'cookie'", cookie);
  if (method !== undefined && !/^[A-Za-z]+$/.test(method)) throw new ConfigError(`httpConfig: 'method' must be an HTTP method such as 'POST', got ${JSON.stringify(method)}`);
  if (headers !== undefined) checkHeaders(headers);
  const verb = (method ?? 'POST').toUpperCase();
  if (verb === 'GET' || verb === 'HEAD') throw new ConfigError(`httpConfig: method ${verb} cannot carry the daemon command in a body; use POST (default) or PUT`);
  return { url: url!, method: verb, headers: headers ?? {}, data: data ?? DEFAULT_DATA, token, cookie };
}

function checkHeaders(headers: unknown): void {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new ConfigError(`httpConfig: 'headers' must be an object of header names to strings`);
  }
  for (const [name, value] of Object.entries(headers)) {
    // RFC 9110 token characters: anything else is refused by fetch at launch time, not here.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError(`httpConfig: header name ${JSON.stringify(name)} is not an HTTP token`);
    if (typeof value !== 'string') throw new ConfigError(`httpConfig: header '${name}' must be a string, got ${typeof value}`);
    checkHeaderValue(`header '${name}'`, value);
  }
}

/**
 * A value sent as a header (a header, the token, the cookie) must be what HTTP can carry;
 * checked here because fetch's own refusal quotes the value. Never the value in the message:
 * these carry credentials.
 */
function checkHeaderValue(what: string, value: string | undefined): void {
  if (value === undefined) return;
  if (/[\r\n\0]/.test(value)) throw new ConfigError(`httpConfig: ${what} must be one line (no CR, LF or NUL characters)`);
  if (/[^\u0000-\u00ff]/.test(value)) throw new ConfigError(`httpConfig: ${what} must hold only Latin-1 characters (bytes an HTTP header can carry)`);
}

/** The request URL: HTTPS, or HTTP to this machine, or HTTP anywhere with `allowHttp`. */
function checkUrl(url: string, allowHttp: boolean): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`httpConfig: 'url' is not a URL (expected https://host/path)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`httpConfig: 'url' must be https:// (got ${parsed.protocol}//)`);
  if (parsed.protocol === 'http:' && !allowHttp && !isLoopback(parsed.hostname)) {
    throw new ConfigError(
      `httpConfig: refusing plain http:// to ${parsed.hostname}: the request carries the profile's secret in the daemon command; use https://, or set allowHttp: true for a network you trust`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') throw new ConfigError(`httpConfig: put credentials in 'token', 'cookie' or 'headers', not in the URL`);
  return parsed;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function checkConfig(options: HttpConfigOptions): HttpConfigOptions {
  if (options === undefined) throw new ConfigError(`httpConfig(options): options must be an object with at least 'url'`);
  checkOptions('httpConfig()', options, {
    ...Object.fromEntries(VALUE_KEYS.map((k) => [k, is.any])),
    timeout: is.timeout,
    allowHttp: is.boolean,
    node: is.string,
    script: is.string,
    cwd: is.string,
  });
  if (options.url === undefined) throw new ConfigError(`httpConfig: 'url' is required (the API endpoint that starts a daemon)`);
  for (const key of VALUE_KEYS) {
    const v = options[key];
    if (v === undefined || typeof v === 'function') continue;
    if (key === 'headers') checkHeaders(v);
    else if (typeof v !== 'string' || v === '') throw new ConfigError(`httpConfig: '${key}' must be a non-empty string or a function returning one, got ${JSON.stringify(v) ?? typeof v}`);
    else if (key === 'token' || key === 'cookie') checkHeaderValue(`'${key}'`, v);
  }
  // Fixed values are checked now, not at the first launch.
  if (typeof options.url === 'string') checkUrl(options.url, options.allowHttp === true);
  if (typeof options.data === 'string' && options.data.split(HTTP_PLACEHOLDER).length !== 2) {
    throw new ConfigError(`httpConfig: 'data' must contain the placeholder '${HTTP_PLACEHOLDER}' exactly once (where the daemon command goes)`);
  }
  return { ...options };
}

