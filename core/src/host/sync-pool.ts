/**
 * Sync mode, `daemons({ sync: true })`: tasks run in the calling process, so breakpoints in
 * task functions work. Arguments and results still go through serialization, so what
 * cannot travel fails here as it would on a daemon. Unlike a daemon, the original function
 * object runs: a variable it captured from its scope works here and fails on a daemon.
 */
import { toErrorRecord, fromErrorRecord } from '../wire/error-record.js';
import { CancelledError, isMiraiError, type MiraiError } from '../errors.js';
import { decodePayload, encodePayload } from '../wire/payload.js';
import type { Serializer } from '../serializer.js';
import { loadModuleFunction } from '../daemon/compiler.js';
import { isModuleFunction, type ModuleFunction, type TaskContext } from '../wire/function-source.js';
import type { Mirai } from '../api/mirai.js';
import type { TaskParam } from '../wire/task-frame.js';

export class SyncProfile {
  readonly sync = true;
  completed = 0;
  closed = false;
  constructor(
    readonly name: string,
    readonly serializers: readonly Serializer[],
  ) {}

  /** Runs the task now; the mirai settles when it finishes. */
  run(mirai: Mirai<unknown>, fn: Function | ModuleFunction, params: readonly TaskParam[], signal: AbortSignal): void {
    const settle = (value: unknown, isError: boolean): void => {
      this.completed++;
      if (!isError) {
        try {
          const out = roundTrip(value, this.serializers, 'result');
          if (out instanceof Promise) out.then((v) => mirai._fulfil(v), (e: unknown) => mirai._reject(asMiraiError(e)));
          else mirai._fulfil(out);
        } catch (err) {
          mirai._reject(asMiraiError(err));
        }
        return;
      }
      mirai._reject(isMiraiError(value) && value instanceof CancelledError ? value : fromErrorRecord(toErrorRecord(value, () => true)));
    };
    const ctx: TaskContext = { signal, taskId: mirai.id, daemonId: 0 };
    // Arguments are copied through serialization now, so what cannot travel throws here,
    // synchronously, as it would with daemons.
    const parts = params.map((p) =>
      'encoded' in p ? decodePayload(p.encoded, 0, this.serializers) : roundTrip(p.value, this.serializers, p.name),
    );
    const copied = parts.some((p) => p instanceof Promise) ? Promise.all(parts) : parts;
    const call = async (p: unknown): Promise<unknown> => {
      const target = isModuleFunction(fn) ? await loadModuleFunction(fn) : (fn as (...a: unknown[]) => unknown);
      return target(...(p as unknown[]), ctx);
    };
    const outcome = copied instanceof Promise ? copied.then(call) : call(copied);
    outcome.then(
      (v) => settle(v, false),
      (e: unknown) => settle(e, true),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function roundTrip(value: unknown, serializers: readonly Serializer[], root: string): unknown {
  const segments = encodePayload(value, serializers, root);
  if (segments instanceof Promise) return segments.then((s) => decodePayload(s, 0, serializers));
  return decodePayload(segments, 0, serializers);
}

function asMiraiError(err: unknown): MiraiError {
  return isMiraiError(err) ? err : fromErrorRecord(toErrorRecord(err, () => true));
}
