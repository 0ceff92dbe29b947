/**
 * Compile-time checks of task arguments: what TypeScript can see will not travel to a daemon
 * (a function, a symbol) is a type error at the call instead of a SerializationError at run
 * time. Types only.
 */

/** True when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * `true` when `T` is, or holds, a function or a symbol where TypeScript can see it: at the top,
 * in arrays and tuples, and in object literal types (which have an implicit index signature).
 * Class instances and interfaces are not looked into: their methods live on the prototype, and
 * serializer plugins (Arrow tables, Polars frames) send such values whole.
 */
export type HoldsUnsendable<T, Depth extends unknown[] = []> =
  IsAny<T> extends true
    ? false
    : Depth['length'] extends 5
      ? false
      : T extends Function | symbol
        ? true
        : T extends readonly (infer E)[]
          ? HoldsUnsendable<E, [...Depth, 0]>
          : T extends ArrayBufferView | ArrayBuffer | Date | RegExp | Error
            ? false
            : T extends Record<string, unknown>
              ? true extends { [K in keyof T]-?: HoldsUnsendable<T[K], [...Depth, 0]> }[keyof T]
                ? true
                : false
              : false;

/** Why a call does not type-check: shown by TypeScript as the missing property's name. */
export interface CannotSendFunctionsOrSymbols {
  readonly 'args hold a function or a symbol, which cannot be sent to a daemon: create it inside the task': never;
}

/**
 * `A` itself when it can travel, else a type no value has, naming the problem. Inference still
 * sees the naked `A`, so `mirai((x) => x * 2, 21)` types `x` as `number`.
 */
export type Sendable<A> = A & (true extends HoldsUnsendable<A> ? CannotSendFunctionsOrSymbols : unknown);

/**
 * A task's arguments, then its options: `args` may be left out only when the task function
 * accepts `undefined` for it (it takes no arguments, or an optional one).
 */
export type ArgsThenOptions<A, O> = undefined extends A ? [args?: Sendable<A>, options?: O] : [args: Sendable<A>, options?: O];
