/**
 * `everywhere()`: set-up that runs once on every daemon of a profile.
 */
import { ConnectionResetError } from '../errors.js';
import { checkOptions, is } from '../options-check.js';
import type { ModuleFunction, TaskContext } from '../task.js';
import type { ArgsThenOptions } from './sendable.js';
import { Mirai, nextTaskId } from './mirai.js';
import { MiraiMap } from './mirai-map.js';
import { currentPool, currentProfileName } from './profile-scope.js';

/** Options of {@link everywhere}. */
export interface EverywhereOptions {
  /** The compute profile (default: the current one). */
  readonly profile?: string;
  /**
   * Wait until this many daemons have run it, counting daemons that connect later (mirai's
   * `.min`). Default: the daemons connected now. The wait ends with a ConnectionResetError if
   * the profile is reset first.
   */
  readonly min?: number;
}

/**
 * Runs `fn(args)` once on every daemon of the profile, before any later task runs there, and
 * on every daemon that connects later (including replacements): for loading modules, opening
 * connections, and globals that survive `cleanup`. Resolves, with one result per daemon, when
 * the daemons connected now (at least `min` of them) are done. It takes no random stream:
 * tasks of a profile with a `seed` get the same numbers with or without it.
 */
export async function everywhere<A, R>(
  fn: ((args: A, context: TaskContext) => R) | ModuleFunction,
  ...argsThenOptions: ArgsThenOptions<A, EverywhereOptions>
): Promise<Awaited<R>[]>;
export async function everywhere<A, R>(
  fn: ((args: A, context: TaskContext) => R) | ModuleFunction,
  args?: A,
  options: EverywhereOptions = {},
): Promise<Awaited<R>[]> {
  checkOptions('everywhere()', options, { profile: is.string, min: is.whole(0) });
  const name = currentProfileName(options.profile);
  const pool = currentPool(name);
  const min = options.min ?? 0;
  const makeMirai = (): Mirai<Awaited<R>> => {
    const m = new Mirai<Awaited<R>>(nextTaskId(), name);
    m._onSettled(() => {
      const error = m.error;
      if (error && error.errorValue !== 19) pool.log('warn', `profile '${name}': everywhere() task ${m.id} failed on a daemon: ${error.message}`);
    });
    return m;
  };
  const copies = await pool.everywhere(fn as Function | ModuleFunction, [{ value: args, name: 'args' }], makeMirai, min);
  const results = await new MiraiMap<Awaited<R>, number>(copies, undefined).flat();
  if (copies.length < min) {
    throw new ConnectionResetError(`profile '${name}' was reset before ${min} daemons ran everywhere() (${copies.length} did)`);
  }
  return results;
}
