/** Option checks shared by the builders: every message names the option, the value and what is expected. */
import { ConfigError } from '@mirai-ts/core';
import { is } from '@mirai-ts/core/plugin';

/** Rejects keys not in `allowed`, suggesting a near miss ("did you mean"). */
export function checkKeys(who: string, options: object, allowed: readonly string[], hints: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const hint = hints[key] ?? allowed.find((a) => distance(a.toLowerCase(), key.toLowerCase()) <= 2);
    throw new ConfigError(`${who}: unknown option '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of ${allowed.join(', ')}`);
  }
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** A value as the user wrote it: strings quoted, numbers as numbers (NaN and Infinity too, which JSON shows as null). */
const show = (value: unknown): string =>
  typeof value === 'string' ? `'${value}'` : typeof value === 'number' || typeof value === 'bigint' ? String(value) : (JSON.stringify(value) ?? String(value));

/**
 * A whole number ≥ `min` (and ≤ `max` when given), or undefined. Strings (from process.env)
 * are not numbers: parse them first.
 */
export function wholeNumber(who: string, key: string, value: unknown, min = 1, max?: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || (max !== undefined && value > max)) {
    const range = max === undefined ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${who}: '${key}' must be a whole number ${range}, got ${show(value)}${typeof value === 'string' ? ' (a string: parse it with Number() first)' : ''}`);
  }
  return value;
}

/** A timeout in ms, or undefined: core's rule, so a value a Node timer cannot hold (> 2^31 - 1, which fires at once) is refused. */
export function timeout(who: string, key: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const expected = is.timeout(value);
  if (expected !== undefined) throw new ConfigError(`${who}: '${key}' must be ${expected}, got ${show(value)}`);
  return value as number;
}

/** The shortest polling interval (ms) besides 0 (off): schedulers' list commands are not free. */
const MIN_INTERVAL_MS = 100;

/** A polling interval in ms: 0 (never) or a whole number from MIN_INTERVAL_MS to 2^31 - 1; or undefined. */
export function interval(who: string, key: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || (value !== 0 && value < MIN_INTERVAL_MS) || value > 2 ** 31 - 1) {
    throw new ConfigError(
      `${who}: '${key}' must be 0 (never) or a whole number of milliseconds from ${MIN_INTERVAL_MS} to ${2 ** 31 - 1}, got ${show(value)}${typeof value === 'string' ? ' (a string: parse it with Number() first)' : ''}`,
    );
  }
  return value;
}

/**
 * A value for one directive field (`--partition=`, `-q `, `-o `), or undefined. Directive lines
 * are not shell: the schedulers split them at whitespace and read no quotes, so a space would
 * cut the value and start another option (`'short --exclusive'`), a quote would be passed on
 * or left unbalanced, and `#` may start a comment. Only `allowed` characters pass.
 */
export function directiveValue(who: string, key: string, value: unknown, allowed: { readonly pattern: RegExp; readonly says: string }): string | undefined {
  const text = oneLine(who, key, value);
  if (text === undefined || allowed.pattern.test(text)) return text;
  throw new ConfigError(
    `${who}: '${key}' must hold only ${allowed.says} (it goes on a directive line, which has no quoting: no spaces, quotes or '#'), got ${show(text)}`,
  );
}

/** Characters a name in a directive may have (partition, queue, account, parallel environment). */
export const NAME_CHARS = { pattern: /^[\w.@*,+-]+$/, says: "letters, digits and _ . @ * , + -" } as const;
/** Characters a log directory in a directive may have. */
export const PATH_CHARS = { pattern: /^[\w./@%,+=:-]+$/, says: "letters, digits and _ . / @ % , + = : -" } as const;

/** A non-empty string on one line, or undefined. */
export function oneLine(who: string, key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || /[\r\n]/.test(value)) {
    throw new ConfigError(`${who}: '${key}' must be a non-empty string on one line, got ${show(value)}`);
  }
  return value;
}

/** An array of one-line strings, or undefined. */
export function lines(who: string, key: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ConfigError(`${who}: '${key}' must be an array of strings, got ${show(value)}`);
  return value.map((line, i) => oneLine(who, `${key}[${i}]`, line)!);
}

/** A boolean, or undefined. */
export function flag(who: string, key: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new ConfigError(`${who}: '${key}' must be true or false, got ${show(value)}`);
  return value;
}

/**
 * The most CPUs or GPUs one job may ask for per node: far above any machine's, low enough
 * that a typo (`1e300`) cannot reach a directive (as `1e+300`).
 */
export const MAX_PER_NODE = 100_000;
/** The longest walltime, in seconds: 100 years (a typo, not a job, beyond that). */
const MAX_WALLTIME_S = 100 * 365 * 24 * 3600;
/** The most memory, in MiB: 1 PiB per node. */
const MAX_MEMORY_MIB = 1024 ** 3;

/** Walltime as seconds: a number of seconds, or 'HH:MM:SS' / 'MM:SS'; at most 100 years. */
export function walltimeSeconds(who: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  let seconds = NaN;
  if (typeof value === 'number' && Number.isInteger(value)) seconds = value;
  const m = typeof value === 'string' ? /^(?:(\d+):)?([0-5]?\d):([0-5]\d)$/.exec(value) : null;
  if (m) seconds = Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (seconds > 0 && seconds <= MAX_WALLTIME_S) return seconds;
  throw new ConfigError(`${who}: 'walltime' must be 'HH:MM:SS' or a whole number of seconds from 1 to ${MAX_WALLTIME_S} (100 years), got ${show(value)}`);
}

/** Memory as MiB: a number of MiB, or '<n>K|M|G|T' (binary units, as Slurm); at most 1 PiB. */
export function memoryMiB(who: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  let mib = NaN;
  if (typeof value === 'number' && Number.isInteger(value)) mib = value;
  const m = typeof value === 'string' ? /^(\d+)\s*([KMGT])i?B?$/i.exec(value) : null;
  if (m) {
    const scale = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[m[2]!.toUpperCase() as 'K' | 'M' | 'G' | 'T'];
    mib = Math.ceil(Number(m[1]) * scale);
  }
  if (mib > 0 && mib <= MAX_MEMORY_MIB) return mib;
  throw new ConfigError(`${who}: 'memory' must be like '4G' or '512M', or a whole number of MiB, at most 1 PiB (${MAX_MEMORY_MIB} MiB), got ${show(value)}`);
}

/** `HH:MM:SS` for `seconds`. */
export function hms(seconds: number): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
}
