/**
 * The context a task runs in on the daemon, with its `daemon eval` span made only when asked for.
 * Most tasks never look at the active span: for them the span is made after the task's result
 * has been sent (with the start time taken before the task ran), off the round trip. A task that
 * reads it (`trace.getActiveSpan()`, or starting a span of its own) gets it at once.
 */
import { ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';

/**
 * The key `trace.getSpan()` reads a context's span under. The API does not export it, so a probe
 * context is asked once: `trace.getSpan(ctx)` is `ctx.getValue(SPAN_KEY)`.
 */
const SPAN_KEY: symbol = (() => {
  let asked: symbol | undefined;
  const probe: Context = {
    getValue(key) {
      asked = key;
      return undefined;
    },
    setValue: () => probe,
    deleteValue: () => probe,
  };
  trace.getSpan(probe);
  if (asked === undefined) throw new Error('@mirai-ts/otel: this @opentelemetry/api does not read spans from contexts by key');
  return asked;
})();

/** A task's span, made on first use. */
export class LazySpan {
  #span: Span | undefined;

  constructor(private readonly make: () => Span) {}

  /** The span, made now if it was not yet. */
  get(): Span {
    return (this.#span ??= this.make());
  }

  /** True once the span has been made (the task read it, or it has ended). */
  get made(): boolean {
    return this.#span !== undefined;
  }
}

/** A context holding only a {@link LazySpan}: reading its span makes it. */
export class TaskContext implements Context {
  constructor(private readonly span: LazySpan) {}

  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.span.get() : undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return trace.setSpan(ROOT_CONTEXT, this.span.get()).setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return key === SPAN_KEY ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, this.span.get());
  }
}
