/**
 * The clean-up between tasks (`cleanup`, on by default, as in mirai): the globals a task
 * created are removed before the next task runs.
 *
 * Globals a task creates (`x = 1`, `globalThis.cache = …`) are enumerable, so the daemon lists
 * the global object's enumerable keys after each task and deletes those it did not have at the
 * snapshot. That listing is paid once per task, and on the global object it costs about 40 ns
 * per enumerable key (V8 looks each one up again through the global proxy): Node's own 14
 * enumerable globals made it 0.6 µs, half of what a daemon spends per prefetched tiny task.
 * So a daemon makes Node's own enumerable globals (below) non-enumerable once: the listing then
 * sees one key, `global`, and takes 0.1 µs.
 * One key is kept on purpose: with none left, V8 lists the global object on a slow path that
 * takes 4 µs.
 */

/**
 * Node's own globals that are enumerable (Node 20; `navigator` from Node 21), except
 * `global`, which stays enumerable (see above). Named here, not taken from `Object.keys`, so a
 * global that a preloaded module of the user's made is left as it was made.
 */
const NODE_ENUMERABLE_GLOBALS = [
  'clearImmediate',
  'setImmediate',
  'clearInterval',
  'clearTimeout',
  'setInterval',
  'setTimeout',
  'queueMicrotask',
  'structuredClone',
  'atob',
  'btoa',
  'performance',
  'fetch',
  'crypto',
  'navigator',
] as const;

let nodeGlobalsHidden = false;

/**
 * Makes Node's own enumerable globals non-enumerable, once per process (or thread). Nothing
 * else about them changes: each keeps its value or accessor, and stays writable and
 * configurable as it was. A global that cannot be redefined (non-configurable) is left as it is.
 */
export function hideNodeGlobals(): void {
  if (nodeGlobalsHidden) return;
  nodeGlobalsHidden = true;
  const hidable = NODE_ENUMERABLE_GLOBALS.filter((name) => {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    return descriptor?.enumerable === true && descriptor.configurable === true;
  });
  // Where something removed `global` (or hid it), one of these stays the enumerable key.
  if (Object.getOwnPropertyDescriptor(globalThis, 'global')?.enumerable !== true) hidable.shift();
  for (const name of hidable) Object.defineProperty(globalThis, name, { enumerable: false });
}

/** The globals a daemon had before its tasks ran, and the removal of those the tasks added. */
export class TaskGlobals {
  /** Every own key of the global object at the snapshot, enumerable or not. */
  private snapshot: Set<string> | undefined;

  /**
   * Takes the snapshot: what exists now is kept from then on (at start, and after an
   * `everywhere()` task, whose globals must survive). Every own name counts, enumerable or not,
   * so a global of Node's that turns enumerable later (a lazy accessor replaced by its value)
   * is never taken for a task's.
   */
  take(): void {
    hideNodeGlobals();
    this.snapshot = new Set(Object.getOwnPropertyNames(globalThis));
  }

  /** Deletes the enumerable globals that were not there at the snapshot. */
  clean(): void {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return;
    // for-in, not Object.keys: it lists the global object's keys in about 60% of the time. It
    // also lists inherited keys, which are not ours to delete (and `delete` would not reach them).
    for (const name in globalThis) {
      if (snapshot.has(name) || !Object.hasOwn(globalThis, name)) continue;
      try {
        delete (globalThis as Record<string, unknown>)[name];
      } catch {
        // non-configurable: leave it
      }
    }
  }
}
