/**
 * Daemon side of plugins: a profile's serializers arrive in the Init message as references
 * (package, export, JSON options) and the daemon imports them itself.
 */
import { DeserializationError, MiraiError, SerializationError } from '../errors.js';
import type { Serializer } from '../serializer.js';
import { taskImport } from './compiler.js';
import type { PluginRef } from '../transport.js';
import type { SerializerRef } from '../wire/messages.js';

/** Imports a plugin factory and calls it with its options. */
export async function importPlugin(ref: PluginRef): Promise<unknown> {
  const mod = (await taskImport(ref.specifier)) as Record<string, unknown>;
  const factory = mod[ref.exportName];
  if (typeof factory !== 'function') {
    throw new MiraiError('plugin', `package '${ref.specifier}' has no exported function '${ref.exportName}'`);
  }
  return (factory as (options: unknown) => unknown)(ref.options);
}

/**
 * Loads every serializer. One that fails to load becomes a stand-in that fails only the
 * tasks that carry its values, with an error naming the package; the daemon serves the rest.
 */
export async function loadSerializers(refs: readonly SerializerRef[]): Promise<Serializer[]> {
  return Promise.all(
    refs.map(async ({ tag, ref }): Promise<Serializer> => {
      try {
        const made = (await importPlugin(ref)) as Serializer;
        if (typeof made?.claims !== 'function' || typeof made.decode !== 'function') {
          throw new Error(`'${ref.exportName}' did not return a serializer`);
        }
        if (made.tag !== tag) {
          // Another version of the package: its bytes would not be understood by the host.
          throw new Error(`it makes tag '${made.tag}' here but '${tag}' on the host (different versions of the package?)`);
        }
        return made;
      } catch (err) {
        const why = `serializer '${tag}' could not be loaded from package '${ref.specifier}' on this daemon: ${(err as Error).message}`;
        return {
          tag,
          claims: (_v: unknown): _v is never => false,
          encode: () => {
            throw new SerializationError(why, tag, err);
          },
          decode: () => {
            throw new DeserializationError(why, err);
          },
        };
      }
    }),
  );
}

/** What an instrumentation plugin's factory returns. */
export interface Instrumentation {
  /** Flushes (exporters) before the daemon exits. */
  shutdown?(): Promise<void>;
  /**
   * Runs one task: calls `task()` and returns what it returns (a value or a promise), inside
   * the context the instrumentation keeps for it (an OpenTelemetry `daemon eval` span made
   * active, so spans the task starts are its children). Called right after
   * `mirai:daemon:task:start` was published for `taskId`.
   */
  run?<T>(taskId: number, task: () => T): T;
}

/** Calls a task through the instrumentation's `run` hooks. */
export type TaskRunner = (taskId: number, task: () => unknown) => unknown;

/**
 * One runner for every instrumentation with a `run` hook (the first loaded is outermost), or
 * undefined when none has one: the daemon then calls tasks directly, at no cost.
 */
export function taskRunner(list: readonly Instrumentation[]): TaskRunner | undefined {
  const hooks = list.filter((i) => typeof i.run === 'function');
  if (hooks.length === 0) return undefined;
  if (hooks.length === 1) {
    const only = hooks[0]!;
    return (taskId, task) => only.run!(taskId, task);
  }
  return hooks.reduceRight<TaskRunner>((inner, i) => (taskId, task) => i.run!(taskId, () => inner(taskId, task)), (_taskId, task) => task());
}

/**
 * Loads the instrumentation plugins the host named in Init. One that fails to load is
 * reported and skipped: tracing must never stop a daemon from working.
 */
export async function loadInstrumentation(refs: readonly PluginRef[], log: (line: string) => void): Promise<Instrumentation[]> {
  const loaded: Instrumentation[] = [];
  for (const ref of refs) {
    try {
      const made = (await importPlugin(ref)) as Instrumentation | undefined;
      loaded.push(typeof made === 'object' && made !== null ? made : {});
    } catch (err) {
      log(`instrumentation '${ref.exportName}' from package '${ref.specifier}' could not be loaded: ${(err as Error).message}`);
    }
  }
  return loaded;
}
