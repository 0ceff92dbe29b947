/**
 * Type tests (checked by `pnpm typecheck`, never run): a mirai is a native promise of its
 * value, and what it rejects with is typed as a MiraiError.
 */
import { expectTypeOf } from 'vitest';
import { mirai, type MiraiError } from '@mirai-ts/core';

const m = mirai(() => 1);
expectTypeOf(m).toMatchTypeOf<Promise<number>>();
expectTypeOf(m.then((v) => v + 1)).toEqualTypeOf<Promise<number>>();
m.catch((e) => expectTypeOf(e).toEqualTypeOf<MiraiError>());
m.then(undefined, (e) => expectTypeOf(e).toEqualTypeOf<MiraiError>());
expectTypeOf(m.promise()).toEqualTypeOf<Promise<number>>();
// @ts-expect-error the value is a number
m.then((v: string) => v);
