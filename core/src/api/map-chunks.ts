/**
 * Chunked maps (`miraiMap(items, fn, { chunk })`): several items travel in one task frame
 * (flag Batch), the daemon runs `fn` for each and answers every item's outcome, and each item
 * still gets its own {@link Mirai}, settled with its own value or error.
 *
 * Cancellation is per item on the host (the item settles at once) and per chunk on the daemon:
 * a chunk is stopped only when every one of its items is cancelled; a timeout stops the whole
 * chunk. A lost daemon (with `retry`) runs the whole chunk again.
 */
import { CancelledError, TimeoutError, type MiraiError } from '../errors.js';
import { settledUnqueued } from '../events.js';
import { traceContextFor } from '../trace-context.js';
import type { ComputePool, Submitted } from '../host/compute-pool.js';
import type { TaskOutcome } from '../host/host-task.js';
import type { ResultOutcome } from '../host/results.js';
import type { ModuleFunction } from '../task.js';
import type { TaskParam } from '../wire/task-frame.js';
import { Mirai, nextTaskId } from './mirai.js';
import type { MiraiOptions } from './submit.js';

/** The host's side of one chunk: settles each item's mirai from the chunk's outcome. */
class ChunkOutcome implements TaskOutcome {
  readonly id = nextTaskId();
  constructor(private readonly items: readonly Mirai<unknown>[]) {}

  _fulfil(value: unknown): void {
    const outcomes = value as readonly ResultOutcome[];
    this.items.forEach((item, i) => {
      const o = outcomes[i];
      if (o === undefined) item._reject(new CancelledError(`the daemon answered ${outcomes.length} of ${this.items.length} items of a chunk`));
      else if (o.ok) item._fulfil(o.value);
      else item._reject(o.error);
    });
  }

  /** The chunk failed as a whole (a lost daemon, a timeout, a daemon that refused it). */
  _reject(error: MiraiError): void {
    for (const item of this.items) item._reject(error);
  }

  _retried(): void {
    for (const item of this.items) item._retried();
  }
}

/**
 * Submits `values` to `pool` in chunks of `chunk` items; returns one mirai per item, in order.
 * Throws (after cancelling what it queued) when a chunk cannot be sent.
 */
export function submitChunks<T>(
  pool: Pick<ComputePool, 'submit'>,
  name: string,
  fn: Function | ModuleFunction,
  values: readonly unknown[],
  itemName: (i: number) => string,
  argsParam: TaskParam,
  chunk: number,
  options: Pick<MiraiOptions, 'timeout' | 'retry'>,
  mapId: number,
): Mirai<T>[] {
  const mirais: Mirai<T>[] = [];
  const sent: Submitted[] = [];
  try {
    for (let from = 0; from < values.length; from += chunk) {
      const to = Math.min(values.length, from + chunk);
      const items: Mirai<unknown>[] = [];
      for (let i = from; i < to; i++) items.push(new Mirai<unknown>(nextTaskId(), name));
      const outcome = new ChunkOutcome(items);
      const param: TaskParam = { value: values.slice(from, to), name: `${itemName(from)}…${itemName(to - 1)}` };
      // Asked here, in the caller's async context, where a tracing adapter finds the active span.
      const trace = traceContextFor(name, outcome.id, mapId);
      let submitted: Submitted;
      try {
        submitted = pool.submit({
          id: outcome.id,
          fn,
          params: [param, argsParam],
          outcome,
          retry: options.retry ?? 0,
          inMap: true,
          batch: to - from,
          ...(trace === undefined ? {} : { trace }),
        });
      } catch (err) {
        // Nothing was queued for this chunk, so no pool reports it settled (a span opened for it ends there).
        settledUnqueued(name, outcome.id, err);
        throw err;
      }
      sent.push(submitted);
      wireChunk(items, submitted, options.timeout);
      mirais.push(...(items as Mirai<T>[]));
    }
  } catch (err) {
    for (const m of mirais) m.cancel();
    throw err;
  }
  return mirais;
}

/** Each item cancels itself; the last one still pending cancels the chunk. A timeout cancels the chunk. */
function wireChunk(items: readonly Mirai<unknown>[], submitted: Submitted, timeout: number | undefined): void {
  let pending = items.length;
  for (const item of items) {
    item._setCanceller({
      cancel: (error) => {
        item._reject(error);
        if (--pending === 0) submitted.cancel(error);
      },
    });
  }
  if (timeout === undefined) return;
  const timer = setTimeout(() => submitted.cancel(new TimeoutError(timeout)), timeout);
  let unsettled = items.length;
  for (const item of items) item._onSettled(() => void (--unsettled === 0 && clearTimeout(timer)));
}
