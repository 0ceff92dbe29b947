/**
 * One 'abort' listener per AbortSignal, however many tasks it cancels. A listener per task made
 * Node warn (MaxListenersExceededWarning) once 11 tasks shared a signal (a request's signal
 * for its fan-out, a shutdown signal for a whole service), and each listener costs more than
 * a set entry. The listener goes when the last task watching the signal has settled.
 */
interface Watchers {
  readonly callbacks: Set<() => void>;
  readonly fire: () => void;
}

const bySignal = new WeakMap<AbortSignal, Watchers>();

/** Calls `callback` once if `signal` aborts; the returned function stops that. */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  let watchers = bySignal.get(signal);
  if (watchers === undefined) {
    const callbacks = new Set<() => void>();
    const fire = (): void => {
      bySignal.delete(signal);
      for (const f of [...callbacks]) f();
      callbacks.clear();
    };
    watchers = { callbacks, fire };
    bySignal.set(signal, watchers);
    signal.addEventListener('abort', fire, { once: true });
  }
  const { callbacks, fire } = watchers;
  // A function of its own per call: one callback given twice is watched twice.
  const entry = (): void => callback();
  callbacks.add(entry);
  return () => {
    if (!callbacks.delete(entry) || callbacks.size > 0) return;
    if (bySignal.get(signal)?.callbacks === callbacks) bySignal.delete(signal);
    signal.removeEventListener('abort', fire);
  };
}
