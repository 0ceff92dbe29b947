/**
 * `everywhere()`: set-up that runs once on every daemon of a profile.
 */
import type { ModuleFunction, TaskContext } from '../task.js';
import { Mirai, nextTaskId } from './mirai.js';
import { MiraiMap } from './mirai-map.js';
import { currentPool, currentProfileName } from './profile-scope.js';

/**
 * Runs `fn(args)` once on every daemon of the profile, before any later task runs there, and
 * on every daemon that connects later (including replacements): for loading modules, opening
 * connections, and globals that survive `cleanup`. Resolves, with one result per daemon, when
 * the daemons connected now are done.
 */
export async function everywhere<A, R>(
  fn: ((args: A, context: TaskContext) => R) | ModuleFunction,
  args?: A,
  options: { readonly profile?: string } = {},
): Promise<Awaited<R>[]> {
  const name = currentProfileName(options.profile);
  const pool = currentPool(name);
  const makeMirai = (): Mirai<Awaited<R>> => {
    const m = new Mirai<Awaited<R>>(nextTaskId(), name);
    m._onSettled(() => {
      const error = m.error;
      if (error && error.errorValue !== 19) pool.log('warn', `profile '${name}': everywhere() task ${m.id} failed on a daemon: ${error.message}`);
    });
    return m;
  };
  const copies = await pool.everywhere(fn as Function | ModuleFunction, [{ value: args, name: 'args' }], makeMirai);
  return new MiraiMap<Awaited<R>, number>(copies, undefined).flat();
}
