/**
 * `everywhere()`: set-up that runs once on every daemon of a profile.
 */
import { ConfigError, NoDaemonsError } from '../errors.js';
import { FrameType, type Frame } from '../wire/frame.js';
import { Mirai, nextTaskId } from './mirai.js';
import { MiraiMap } from './mirai-map.js';
import { currentProfileName, profiles } from './profile-scope.js';
import { SyncProfile } from '../host/sync-pool.js';
import { buildTaskFrame } from '../wire/task-frame.js';
import type { ModuleFunction, TaskContext } from '../wire/function-source.js';

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
  const profile = profiles.get(name);
  if (profile === undefined) throw new NoDaemonsError(name);
  if (profile instanceof SyncProfile) {
    // One process: run it here, once.
    const { mirai } = await import('./submit.js');
    return [await mirai(fn as (a: A, c: TaskContext) => R, args, { profile: name })] as Awaited<R>[];
  }
  const built = buildTaskFrame(FrameType.Everywhere, 0, fn as Function | ModuleFunction, [{ value: args, name: 'args' }], profile.config.serializers);
  const taskFrame: Frame = built instanceof Promise ? await built : built;
  if (taskFrame.segments.length === 0) throw new ConfigError('everywhere(): empty task');
  const makeMirai = (): Mirai<unknown> => {
    const m = new Mirai<unknown>(nextTaskId(), name);
    m._onSettled(() => {
      const error = m.error;
      if (error && error.errorValue !== 19) profile.config.log('warn', `profile '${name}': everywhere() task ${m.id} failed on a daemon: ${error.message}`);
    });
    return m;
  };
  const copies = profile.dispatcher.everywhere(taskFrame, makeMirai) as Mirai<Awaited<R>>[];
  return new MiraiMap<Awaited<R>, number>(copies, undefined).flat() as Promise<Awaited<R>[]>;
}
