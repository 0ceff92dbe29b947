/**
 * `miraiMap()`: one task per element; a {@link MiraiMap} collects them.
 */
import { inspect } from 'node:util';
import { markShared } from '../wire/frame.js';
import { encodePayload } from '../wire/payload.js';
import { CancelledError, ConfigError, MiraiError } from '../errors.js';
import { allSettled, Mirai } from './mirai.js';
import { MIRAI_OPTION_RULES, submitTask, type MiraiOptions } from './submit.js';
import { checkOptions, is } from '../options-check.js';
import { submitChunks } from './map-chunks.js';
import { currentPool, currentProfileName } from './profile-scope.js';
import { ProgressBar } from './progress-bar.js';
import { claimant, type Serializer } from '../serializer.js';
import type { ModuleFunction, TaskContext } from '../task.js';
import type { Sendable } from './sendable.js';
import { active, channels, publish } from '../events.js';

/** Numbers maps for `mirai:map:start`/`end` and trace context providers. */
let lastMapId = 0;

/** Options of {@link miraiMap}. */
export interface MiraiMapOptions<A> extends Omit<MiraiOptions, 'signal'> {
  /**
   * Constant second argument of every call. Encoded once on the host, but every task's frame
   * (every chunk's, with `chunk`) carries its bytes: for large data read by many tasks, send
   * it once per daemon with `everywhere()` (docs/maps.md, "Large shared inputs").
   */
  readonly args?: A;
  /** Cancels every task of the map when aborted. */
  readonly signal?: AbortSignal;
  /**
   * Items per task frame (default 1). Above 1, each daemon gets `chunk` items at once and runs
   * `fn` on them one after another: far less overhead for tiny items, but a chunk is the unit
   * of scheduling, retry and timeout. Every item still gets its own mirai and outcome. Pools
   * without daemons (`sync`, none set) run one task per item.
   */
  readonly chunk?: number;
}

/**
 * The options of a map whose function takes `A` as its second argument: `args` is required
 * (and so are the options) unless the function accepts `undefined` there.
 */
export type MapOptionsFor<A> = undefined extends A
  ? [options?: MiraiMapOptions<Sendable<A>>]
  : [options: MiraiMapOptions<Sendable<A>> & { readonly args: Sendable<A> }];

/** A map's collected results: an array, or an object with the input's keys. */
export type MapResult<K, T> = K extends number ? T[] : Record<string, T>;

/** Raised by `flat()` and `stop()`: which element failed, with the original error as `cause`. */
export class MapElementError extends MiraiError {
  constructor(
    readonly key: string | number,
    cause: MiraiError,
  ) {
    super(cause.kind, `${typeof key === 'number' ? `In index: ${key}` : `With name: ${key}`}: ${cause.message}`, {
      cause,
      ...(cause.errorValue !== undefined ? { errorValue: cause.errorValue } : {}),
      retryable: cause.retryable,
    });
  }
}
Object.defineProperty(MapElementError.prototype, 'name', { value: 'MapElementError', configurable: true, writable: true });

/**
 * The tasks of one map. `await mp` collects every value, with each failure's error in its
 * place; `flat()` wants values only; `for await` yields `[key, result]` in completion order.
 */
export class MiraiMap<T = unknown, K extends string | number = number> implements PromiseLike<MapResult<K, T | MiraiError>> {
  /** The mirai, in input order. */
  readonly items: readonly Mirai<T>[];
  /** The input's keys when it was a plain object, else undefined. */
  readonly keys: readonly string[] | undefined;

  /** @internal */
  constructor(items: Mirai<T>[], keys: string[] | undefined) {
    this.items = items;
    this.keys = keys;
  }

  get length(): number {
    return this.items.length;
  }

  /** How many have settled. */
  get done(): number {
    let n = 0;
    for (const m of this.items) if (!m.unresolved) n++;
    return n;
  }

  /** True while any task is pending. */
  get unresolved(): boolean {
    return this.items.some((m) => m.unresolved);
  }

  then<R1 = MapResult<K, T | MiraiError>, R2 = never>(
    onFulfilled?: ((value: MapResult<K, T | MiraiError>) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.collect().then(onFulfilled, onRejected);
  }

  /**
   * Every result in input order, each failure's error in its place. `progress: true` draws a
   * bar on stderr; `onProgress(done, total, failed)` is called as each element settles, for
   * callers that draw their own.
   */
  async collect(options: CollectOptions = {}): Promise<MapResult<K, T | MiraiError>> {
    const report = progressReporter(options, this.items.length);
    try {
      if (report) for await (const [, result] of this) report(result instanceof MiraiError);
      else await allSettled(this.items);
    } finally {
      report?.end();
    }
    return this.shape(this.items.map((m) => m.data as T | MiraiError));
  }

  /** Values only. The first error cancels the rest and rejects, naming the failing index or key. */
  async flat(): Promise<MapResult<K, T>> {
    return this.stop() as Promise<MapResult<K, T>>;
  }

  /** Like `await mp`, but the first error (in completion order) cancels all remaining tasks at once and rejects. */
  async stop(options: CollectOptions = {}): Promise<MapResult<K, T>> {
    const report = progressReporter(options, this.items.length);
    try {
      for await (const [key, result] of this) {
        report?.(result instanceof MiraiError);
        if (result instanceof MiraiError) {
          cancelAll(this.items);
          throw new MapElementError(key, result);
        }
      }
    } finally {
      report?.end();
    }
    return this.shape(this.items.map((m) => m.data as T)) as MapResult<K, T>;
  }

  /** Collects like `await mp`, drawing a progress bar (done/total, percent, ETA) on stderr. */
  progress(): Promise<MapResult<K, T | MiraiError>> {
    return this.collect({ progress: true });
  }

  /** Cancels every pending task. */
  cancel(reason?: unknown): boolean[] {
    return cancelAll(this.items, reason);
  }

  /** `[key, value-or-error]` pairs in completion order: a fast item never waits behind a slow one. */
  async *[Symbol.asyncIterator](): AsyncGenerator<[K, T | MiraiError]> {
    const queue: number[] = [];
    let wake: (() => void) | undefined;
    this.items.forEach((m, i) =>
      m._onSettled(() => {
        queue.push(i);
        wake?.();
      }),
    );
    for (let yielded = 0; yielded < this.items.length; yielded++) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const i = queue.shift()!;
      const key = (this.keys ? this.keys[i] : i) as K;
      yield [key, this.items[i]!.data as T | MiraiError];
    }
  }

  private shape<V>(values: V[]): MapResult<K, V> {
    if (this.keys === undefined) return values as MapResult<K, V>;
    const out: Record<string, V> = {};
    this.keys.forEach((k, i) => (out[k] = values[i]!));
    return out as MapResult<K, V>;
  }

  get [Symbol.toStringTag](): string {
    return 'MiraiMap';
  }

  [inspect.custom](): string {
    return `MiraiMap [${this.done}/${this.items.length}]`;
  }
}

/** Options of {@link MiraiMap.collect} and {@link MiraiMap.stop}. */
export interface CollectOptions {
  /** Draw a progress bar (done/total, failures, percent, ETA) on stderr. */
  readonly progress?: boolean;
  /** Called each time an element settles: how many settled, of how many, and how many failed. */
  readonly onProgress?: (done: number, total: number, failed: number) => void;
}

/** Ticks the bar and calls `onProgress`, as asked; undefined when neither is. */
function progressReporter(options: CollectOptions, total: number): (((failed: boolean) => void) & { end(): void }) | undefined {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`collect options must be an object, got ${typeof options}`);
  for (const key of Object.keys(options)) {
    if (key !== 'progress' && key !== 'onProgress') throw new ConfigError(`unknown collect option '${key}'; known: progress, onProgress`);
  }
  const { progress, onProgress } = options;
  if (progress !== undefined && typeof progress !== 'boolean') throw new ConfigError(`progress must be a boolean, got ${JSON.stringify(progress)}`);
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ConfigError(`onProgress must be a function (done, total, failed) => void, got ${typeof onProgress}`);
  }
  if (!progress && onProgress === undefined) return undefined;
  const bar = progress ? new ProgressBar(total) : undefined;
  let done = 0;
  let failed = 0;
  const report = (isFailure: boolean): void => {
    done++;
    if (isFailure) failed++;
    bar?.tick(isFailure);
    onProgress?.(done, total, failed);
  };
  return Object.assign(report, { end: () => bar?.end() });
}

/** Cancels in reverse order, so a freed daemon is never handed a task about to be cancelled. */
function cancelAll(items: readonly Mirai<unknown>[], reason?: unknown): boolean[] {
  const out = new Array<boolean>(items.length);
  for (let i = items.length - 1; i >= 0; i--) out[i] = items[i]!.cancel(reason);
  return out;
}

/**
 * Rows of a table-like value a profile serializer claims and knows how to split (an Arrow
 * Table, a Polars DataFrame: one plain object per row, as mirai maps data frames by row).
 */
function serializerRows(items: unknown, serializers: readonly Serializer[]): unknown[] | undefined {
  if (typeof items !== 'object' || items === null) return undefined;
  const serializer = claimant(items, serializers.filter((s) => s.rows !== undefined));
  return serializer === undefined ? undefined : [...serializer.rows!(items)];
}

/**
 * Runs `fn(item, args)` on the profile's daemons for each element of `items`: an array or
 * any iterable (an array of records maps per row), a table a profile serializer can split
 * into rows (an Arrow Table or Polars DataFrame: one plain object per row), or a plain
 * object (per value, keys kept). Requires daemons to be set.
 */
export function miraiMap<I, A, R>(
  items: Iterable<Sendable<I>>,
  fn: ((item: I, args: A, context: TaskContext) => R) | ModuleFunction,
  ...options: MapOptionsFor<A>
): MiraiMap<Awaited<R>, number>;
export function miraiMap<I, A, R>(
  items: Record<string, I>,
  fn: ((item: I, args: A, context: TaskContext) => R) | ModuleFunction,
  ...options: MapOptionsFor<A>
): MiraiMap<Awaited<R>, string>;
export function miraiMap<I, A, R>(
  items: Iterable<I> | Record<string, I>,
  fn: ((item: I, args: A, context: TaskContext) => R) | ModuleFunction,
  options: MiraiMapOptions<A> = {},
): MiraiMap<Awaited<R>, number | string> {
  checkOptions('miraiMap()', options, { ...MIRAI_OPTION_RULES, args: is.any, chunk: is.whole(1) });
  const name = currentProfileName(options.profile);
  const pool = currentPool(name);
  const serializers = pool.serializers;
  let values: I[];
  let keys: string[] | undefined;
  const rows = serializerRows(items, serializers);
  if (rows !== undefined) values = rows as I[];
  else if (items !== null && typeof items === 'object' && Symbol.iterator in items) values = [...(items as Iterable<I>)];
  else if (items !== null && typeof items === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(items))) {
    keys = Object.keys(items);
    values = keys.map((k) => (items as Record<string, I>)[k]!);
  } else {
    throw new ConfigError(`miraiMap(items): items must be an array, an iterable or a plain object, got ${typeof items}`);
  }
  const encodedArgs = encodePayload(options.args, serializers, 'args');
  // Every task frame of the map carries these: a channel must copy them, not move them.
  if (!(encodedArgs instanceof Promise)) markShared(encodedArgs);
  const argsParam = encodedArgs instanceof Promise ? { value: options.args, name: 'args' } : { encoded: encodedArgs };
  // One abort listener for the whole map, not one per task (thousands would trip Node's
  // listener-leak warning).
  const taskOptions: MiraiOptions = {
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
    ...(options.crashesMax !== undefined ? { crashesMax: options.crashesMax } : {}),
    ...(options.escalate !== undefined ? { escalate: options.escalate } : {}),
  };
  const signal = options.signal;
  if (signal?.aborted) throw new CancelledError(signal.reason);
  const chunk = options.chunk ?? 1;
  if (chunk > 1 && (options.crashesMax !== undefined || options.escalate !== undefined)) {
    // A crash budget follows one task to the profile it escalates to; a chunk is many tasks in one frame.
    throw new ConfigError(`miraiMap(): crashesMax and escalate apply to a map's elements one by one; they cannot be combined with chunk (got chunk ${chunk})`);
  }
  const itemName = (i: number): string => (keys ? `items.${keys[i]}` : `items[${i}]`);
  let mirais: Mirai<Awaited<R>>[] = [];
  const mapId = ++lastMapId;
  const observed = active(channels.mapStart) || active(channels.mapEnd);
  if (observed) publish(channels.mapStart, { profile: name, mapId, size: values.length });
  try {
    if (chunk > 1 && pool.batches === true) {
      mirais = submitChunks<Awaited<R>>(pool, name, fn as Function | ModuleFunction, values, itemName, argsParam, chunk, taskOptions, mapId);
    } else {
      values.forEach((item, i) => {
        const param = { value: item, name: itemName(i) };
        mirais.push(submitTask<Awaited<R>>(fn as Function | ModuleFunction, [param, argsParam], taskOptions, name, pool, true, mapId));
      });
    }
  } catch (err) {
    // One element cannot be sent: nothing of this map may run.
    cancelAll(mirais);
    if (observed) publish(channels.mapEnd, { profile: name, mapId, size: values.length, failed: values.length });
    throw err;
  }
  const map = new MiraiMap(mirais, keys);
  if (observed) {
    void allSettled(mirais).then(() => {
      let failed = 0;
      for (const m of mirais) if (m.data instanceof MiraiError) failed++;
      publish(channels.mapEnd, { profile: name, mapId, size: mirais.length, failed });
    });
  }
  if (signal !== undefined) {
    const onAbort = (): void => void map.cancel(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void allSettled(mirais).then(() =>
      signal.removeEventListener('abort', onAbort),
    );
  }
  return map;
}
