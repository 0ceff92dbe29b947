/**
 * Checking what users pass: every options object and count of the API, the profile options
 * and launcher configs go through here, so each bad value gets the same kind of ConfigError,
 * naming the option, the value as it was (NaN as NaN, '2' as a string) and what is expected,
 * and an unknown key is refused with the nearest known one ("did you mean").
 */
import { ConfigError } from './errors.js';

/** Checks one value: undefined when it is fine, else what was expected ("a boolean"). */
export type OptionRule = (value: unknown) => string | undefined;

/** The rules of an options object, one per key it may have. */
export type OptionRules = Readonly<Record<string, OptionRule>>;

/** The longest a Node timer can wait; longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const rule =
  (expected: string, ok: (value: unknown) => boolean): OptionRule =>
  (value) =>
    ok(value) ? undefined : expected;

/** Rules for the kinds of values options take. */
export const is = {
  any: (() => undefined) as OptionRule,
  boolean: rule('a boolean (true or false)', (v) => typeof v === 'boolean'),
  string: rule('a non-empty string', (v) => typeof v === 'string' && v !== ''),
  function: rule('a function', (v) => typeof v === 'function'),
  object: rule('an object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
  array: rule('an array', (v) => Array.isArray(v)),
  signal: rule('an AbortSignal', (v) => v instanceof AbortSignal),
  /** Milliseconds: a number >= 0 that a timer can hold (at most 2^31 - 1, about 24.8 days). */
  ms: rule(`a number of milliseconds from 0 to ${MAX_TIMER_MS}`, (v) => typeof v === 'number' && v >= 0 && v <= MAX_TIMER_MS),
  /** A daemon's time limit (`idletime`, `walltime`): as `timeout`, or Infinity for none. */
  limitMs: rule(`a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}, or Infinity (no limit)`, (v) => v === Infinity || (typeof v === 'number' && v > 0 && v <= MAX_TIMER_MS)),
  /** A timeout: as `ms`, but > 0. */
  timeout: rule(`a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}`, (v) => typeof v === 'number' && v > 0 && v <= MAX_TIMER_MS),
  /** A whole number, any sign (a seed). */
  integer: rule('a whole number (a safe integer)', (v) => typeof v === 'number' && Number.isSafeInteger(v)),
  /** A limit: a number > 0, Infinity allowed (no limit). */
  positive: rule('a number > 0 (Infinity for no limit)', (v) => typeof v === 'number' && v > 0),
  /** A whole number >= `min`; with `infinite`, Infinity too. */
  whole: (min: number, infinite = false): OptionRule =>
    rule(`a whole number ≥ ${min}${infinite ? ' (or Infinity)' : ''}`, (v) => typeof v === 'number' && v >= min && (Number.isSafeInteger(v) || (infinite && v === Infinity))),
  /** A number of `unit` from `min` to `max` (a poll's µs). */
  between: (min: number, max: number, unit: string): OptionRule =>
    rule(`a number of ${unit} from ${min} to ${max}`, (v) => typeof v === 'number' && v >= min && v <= max),
  /**
   * A secret: a non-empty string without surrounding whitespace or line breaks (daemons read
   * theirs from a file or stdin and trim it, so a secret that differs trimmed never matches).
   * Messages about it never show the value.
   */
  secret: rule('a secret without surrounding whitespace or line breaks', (v) => typeof v === 'string' && /^[^\s](?:[^\r\n]*[^\s])?$/.test(v)),
  oneOf: (...values: readonly unknown[]): OptionRule => rule(`one of ${values.map((v) => (typeof v === 'string' ? `'${v}'` : show(v))).join(', ')}`, (v) => values.includes(v)),
  either: (...rules: readonly OptionRule[]): OptionRule => (value) => {
    const failed = rules.map((r) => r(value));
    return failed.some((f) => f === undefined) ? undefined : failed.join(', or ');
  },
} as const;

/**
 * Checks an options object against `rules`: `where` names the call (`daemons()`). Undefined
 * values count as not given. Throws a ConfigError at the first problem.
 */
export function checkOptions(where: string, options: unknown, rules: OptionRules): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(`${where}: options must be an object, got ${show(options)}`);
  }
  // Only own keys are checked, and the options are read as `options.key` later: an inherited
  // key (Object.create({ retry: -3 })) or a class's getter would pass unchecked.
  const proto: unknown = Object.getPrototypeOf(options);
  if (proto !== Object.prototype && proto !== null) {
    throw new ConfigError(`${where}: options must be a plain object ({ ... }), got ${show(options)}; spread it ({ ...options }) to pass its own keys`);
  }
  // for-in, not Object.entries: mirai() checks its options on every call, most often `{}`.
  for (const key in options) {
    if (!Object.hasOwn(options, key)) continue;
    const value = (options as Record<string, unknown>)[key];
    // Own rules only: `rules.toString` is Object.prototype's, not a rule.
    const check = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (check === undefined) {
      const near = nearest(key, Object.keys(rules));
      throw new ConfigError(`${where}: unknown option '${key}'${near ? `; did you mean '${near}'?` : ''} (known: ${Object.keys(rules).join(', ')})`);
    }
    if (value === undefined) continue;
    const expected = check(value);
    if (expected !== undefined) {
      const got = check === is.secret ? (typeof value === 'string' ? `a string of ${value.length} characters (not shown)` : typeof value) : show(value);
      throw new ConfigError(`${where}: option '${key}' must be ${expected}, got ${got}`);
    }
  }
}

/** The most daemons one call may start: a typo such as `2 ** 53` must not reach a launcher. */
export const MAX_DAEMONS_PER_CALL = 10_000;

/**
 * Checks a count of daemons (`daemons(n)`, `launchLocal(n)`): a whole number from `min` to
 * {@link MAX_DAEMONS_PER_CALL}. A string gets its own hint: counts from `process.env` are
 * strings, and must be converted on purpose.
 */
export function checkCount(where: string, n: unknown, min: number): number {
  if (typeof n === 'string') {
    throw new ConfigError(
      `${where}: n must be a number, got the string ${show(n)}; a count from process.env is a string: convert it, ` +
        `e.g. Number(process.env.WORKERS), and check the result`,
    );
  }
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    throw new ConfigError(`${where}: n must be a whole number ≥ ${min}, got ${show(n)}`);
  }
  if (n > MAX_DAEMONS_PER_CALL) {
    throw new ConfigError(`${where}: n must be at most ${MAX_DAEMONS_PER_CALL} per call, got ${show(n)}; call again to add more`);
  }
  return n;
}

/** A value as a user would recognise it in a message: NaN, 'text', 2n, a Uint8Array(3), null. */
export function show(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `'${value.length > 60 ? `${value.slice(0, 60)}…` : value}' (a string)`;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n (a bigint)`;
    case 'function':
      return `a function${value.name ? ` (${value.name})` : ''}`;
    case 'symbol':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(value);
    default:
      break;
  }
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}(${(value as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const name = (value as object).constructor?.name;
  if (name && name !== 'Object') return `a ${name}`;
  try {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 60)}…` : text;
  } catch {
    return 'an object';
  }
}

/** The known key closest to `key` (case-insensitive edit distance ≤ 2), if any. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: keys are short, so the plain two-row version is enough. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
