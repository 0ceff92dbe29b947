/** Working with several mirai at once. */
import { ConfigError, type MiraiError } from '../errors.js';
import { show } from '../options-check.js';
import { allSettled, Mirai, UNRESOLVED } from './mirai.js';
import { MiraiMap } from './mirai-map.js';

type MiraiLike = Mirai<unknown> | MiraiMap<unknown, string | number>;

/**
 * True while anything given is pending: a mirai, a map, a list of them, or a `m.data` value.
 */
export function unresolved(x: unknown): boolean {
  if (x instanceof Mirai || x instanceof MiraiMap) return x.unresolved;
  if (Array.isArray(x)) return x.some((item) => unresolved(item));
  return x === UNRESOLVED;
}

/** Throws a ConfigError unless `list` is an array of mirai (a plain promise has no settled state to read). */
function checkMiraiList(where: string, list: unknown): void {
  if (!Array.isArray(list)) throw new ConfigError(`${where}: list must be an array of mirai, got ${show(list)}`);
  const i = list.findIndex((m) => !(m instanceof Mirai));
  if (i >= 0) throw new ConfigError(`${where}: list[${i}] is not a mirai but ${show(list[i])}; await plain promises with Promise.all or Promise.race`);
}

/**
 * Cancels a mirai, a map or a list (last element first, so a freed daemon is never handed a
 * task about to be cancelled). Each settles at once with a CancelledError (20). Returns
 * whether each was still pending.
 */
export function stopMirai(x: MiraiLike): boolean | boolean[];
export function stopMirai(x: readonly MiraiLike[]): boolean[];
export function stopMirai(x: MiraiLike | readonly MiraiLike[]): boolean | boolean[] {
  if (x instanceof Mirai) return x.cancel();
  if (x instanceof MiraiMap) return x.cancel();
  if (!Array.isArray(x)) throw new ConfigError(`stopMirai(x): x must be a mirai, a map or an array of them, got ${show(x)}`);
  const out = new Array<boolean>(x.length);
  for (let i = x.length - 1; i >= 0; i--) {
    const r = stopMirai(x[i]!);
    out[i] = Array.isArray(r) ? r.some(Boolean) : r;
  }
  return out;
}

/** Waits for every mirai and returns their values in order; failures in place as errors. */
export async function collectMirai<T>(list: readonly Mirai<T>[]): Promise<(T | MiraiError)[]> {
  checkMiraiList('collectMirai(list)', list);
  await allSettled(list);
  return list.map((m) => m.data as T | MiraiError);
}

/**
 * Resolves with the index of the first mirai to settle (at once if one has; ties go to the
 * lowest index), or -1 for an empty list.
 */
export function raceMirai(list: readonly Mirai<unknown>[]): Promise<number> {
  checkMiraiList('raceMirai(list)', list);
  if (list.length === 0) return Promise.resolve(-1);
  const ready = list.findIndex((m) => !m.unresolved);
  if (ready >= 0) return Promise.resolve(ready);
  return new Promise((resolve) => {
    const listeners = list.map((_, i) => (): void => {
      // The first to settle wins; the others stop calling back, or a loop racing the same
      // pending mirai would pile up a listener on each of them per call.
      list.forEach((other, j) => other._offSettled(listeners[j]!));
      resolve(i);
    });
    list.forEach((m, i) => m._onSettled(listeners[i]!));
  });
}
