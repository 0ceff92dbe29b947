/**
 * `mirai-daemon <url> [options]`: the daemon process launchers start, and the command to run
 * by hand on another machine. The profile's secret comes from the MIRAI_SECRET environment
 * variable, a file (--secret-file) or standard input (--secret-stdin), never from the command
 * line, where `ps` would show it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SECRET_ENV } from '../wire/auth.js';
import { runDaemon } from './loop.js';
import { MAX_DAEMON_SPIN_US } from './next-task-poll.js';
import { MAX_TIMER_MS } from '../options-check.js';
import { DaemonExit } from '../wire/exit-codes.js';
import { EXIT_ON_STDIN_EOF_FLAG } from '../wire/daemon-args.js';
import { loadTransport } from './load-transport.js';
import type { PluginRef, Transport } from '../transport.js';

const USAGE = `usage: mirai-daemon <url> [--autoexit=true|false|finish] [--cleanup=true|false] [--output] [--task-tags]
       [--idletime=ms] [--walltime=ms] [--maxtasks=n] [--watchdog=true|false] [--spin=µs]
       [--secret-file=path | --secret-stdin] [--exit-on-stdin-eof]
       [--transport=<json plugin ref>] [--dial-options=<json>]
The profile's secret is read from $${SECRET_ENV}, unless --secret-file or --secret-stdin
(one line on standard input) is given. --exit-on-stdin-eof: exit (code 0) as soon as standard
input ends, even mid-task; for launchers that hold it open while the daemon should live (ssh).`;

function fail(message: string): never {
  process.stderr.write(`mirai-daemon: ${message}\n${USAGE}\n`);
  process.exit(DaemonExit.BadOptions);
}

/**
 * A decimal number as written on a command line (`250`, `0.5`, `1e-7` as the host writes a
 * tiny one, `Infinity`), or NaN: Number() alone takes hex, binary and surrounding spaces
 * ('0x10', ' 50 ').
 */
function decimal(value: string): number {
  return value === 'Infinity' || /^\d+(\.\d+)?(e[+-]?\d+)?$/i.test(value) ? Number(value) : NaN;
}

/** `--idletime`, `--walltime`: ms a timer can hold (Node fires a longer one after 1 ms), or Infinity. */
function limitOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = decimal(value);
  if (!(n === Infinity || (n > 0 && n <= MAX_TIMER_MS))) fail(`--${name} must be a number of ms > 0 and ≤ ${MAX_TIMER_MS}, or Infinity, got '${value}'`);
  return n;
}

/** `--maxtasks`: a whole number ≥ 1, or Infinity. */
function countOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = decimal(value);
  if (!(n === Infinity || (Number.isSafeInteger(n) && n >= 1))) fail(`--${name} must be a whole number ≥ 1, or Infinity, got '${value}'`);
  return n;
}

/** The secret file's first line; a file that cannot be read is a bad option (exit 13), not a crash. */
function readSecretFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    return fail(`cannot read --secret-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function jsonOption<T>(value: string | undefined, name: string): T | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    return fail(`--${name} must be JSON, got '${value}'`);
  }
}

/**
 * Exits (code 0) once standard input ends or fails: the launcher holding its other end is gone
 * (an ssh session that was killed, or whose host died). ssh without a terminal sends the remote
 * command no hang-up signal, so without this a daemon of a launch that failed before it
 * connected would keep running there. Anything read is dropped. It does not keep the process
 * alive by itself; the daemon exits by its own rules as before while the input stays open.
 */
function exitAtStdinEof(): void {
  const stdin = process.stdin;
  const end = (): void => {
    process.stderr.write(`[mirai-daemon ${process.pid}] standard input ended (${EXIT_ON_STDIN_EOF_FLAG}): its launcher is gone, exiting\n`);
    process.exit(DaemonExit.ConnectionEnded);
  };
  stdin.once('end', end);
  stdin.once('error', end);
  stdin.on('data', () => {});
  (stdin as { unref?: () => void }).unref?.();
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        autoexit: { type: 'string' },
        cleanup: { type: 'string' },
        output: { type: 'boolean' },
        'task-tags': { type: 'boolean' },
        watchdog: { type: 'string' },
        idletime: { type: 'string' },
        walltime: { type: 'string' },
        maxtasks: { type: 'string' },
        spin: { type: 'string' },
        'secret-file': { type: 'string' },
        'secret-stdin': { type: 'boolean' },
        'exit-on-stdin-eof': { type: 'boolean' },
        transport: { type: 'string' },
        'dial-options': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const url = positionals[0];
  if (url === undefined || positionals.length > 1) fail('expected exactly one URL');
  if (values['secret-file'] !== undefined && values['secret-stdin']) fail('give --secret-file or --secret-stdin, not both');
  const exitOnStdinEof = values['exit-on-stdin-eof'] === true;
  // --secret-stdin reads standard input to its end: a daemon watching for that end would exit at once.
  if (exitOnStdinEof && values['secret-stdin']) fail(`give --secret-stdin or ${EXIT_ON_STDIN_EOF_FLAG}, not both: both read standard input`);
  const secret = values['secret-file']
    ? readSecretFile(values['secret-file'])
    : values['secret-stdin']
      ? readFileSync(0, 'utf8').split('\n')[0]!.trim()
      : process.env[SECRET_ENV]?.trim();
  if (!secret) fail(`no secret: set ${SECRET_ENV}, or pass --secret-file or --secret-stdin`);
  delete process.env[SECRET_ENV]; // tasks have no business reading it
  // Watched before the dial: a daemon whose launcher is gone must not go on dialling, nor hang in a handshake.
  if (exitOnStdinEof) exitAtStdinEof();
  const autoexitText = values.autoexit ?? 'true';
  if (!['true', 'false', 'finish'].includes(autoexitText)) fail(`--autoexit must be true, false or finish, got '${autoexitText}'`);
  const autoexit = autoexitText === 'finish' ? 'finish' : autoexitText === 'true';
  if (values.watchdog !== undefined && !['true', 'false'].includes(values.watchdog)) fail(`--watchdog must be true or false, got '${values.watchdog}'`);
  if (values.cleanup !== undefined && !['true', 'false'].includes(values.cleanup)) fail(`--cleanup must be true or false, got '${values.cleanup}'`);
  const spin = values.spin === undefined ? undefined : decimal(values.spin);
  if (spin !== undefined && !(spin >= 0 && spin <= MAX_DAEMON_SPIN_US)) {
    fail(`--spin must be a number of µs from 0 to ${MAX_DAEMON_SPIN_US}, got '${values.spin}'`);
  }
  const launchId = process.env.MIRAI_LAUNCH_ID;
  const transportRef = jsonOption<PluginRef>(values.transport, 'transport');
  if (transportRef !== undefined && (typeof transportRef?.specifier !== 'string' || typeof transportRef.exportName !== 'string')) {
    fail(`--transport must be a JSON plugin reference {"specifier": ..., "exportName": ..., "options": ...}, got '${values.transport}'`);
  }
  const dialOptions = jsonOption<Record<string, unknown>>(values['dial-options'], 'dial-options') ?? {};
  if (typeof dialOptions !== 'object' || dialOptions === null || Array.isArray(dialOptions)) fail(`--dial-options must be a JSON object, got '${values['dial-options']}'`);
  if ('limits' in dialOptions) fail(`--dial-options: 'limits' is the daemon's own (the receive limits before the handshake), not an option`);
  // On by default; the local launcher turns it off, since the host can end its own children.
  const wantWatchdog = values.watchdog !== 'false';
  let transport: Transport;
  try {
    transport = await loadTransport(url, transportRef);
    transport.checkDialOptions?.(dialOptions);
  } catch (err) {
    fail((err as Error).message);
  }
  const code = await runDaemon({
    url,
    secret,
    transport,
    dialOptions,
    autoexit,
    cleanup: values.cleanup !== 'false',
    output: values['task-tags'] === true ? 'host' : (values.output ?? false),
    idletime: limitOption(values.idletime, 'idletime'),
    walltime: limitOption(values.walltime, 'walltime'),
    maxtasks: countOption(values.maxtasks, 'maxtasks'),
    spin,
    launchId,
    watchdog: wantWatchdog
      ? {
          ...(transportRef ? { transportRef } : {}),
          dialOptions,
          respawn: { execPath: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)], cwd: process.cwd() },
        }
      : undefined,
  });
  process.exit(code);
}

main().catch((err: unknown) => {
  process.stderr.write(`mirai-daemon: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(70); // EX_SOFTWARE: not to be mistaken for the limit codes 1-3
});
