/**
 * Function source after real toolchains: esbuild (tsx's engine) with keepNames, and tsc at a
 * modern and at an old target.
 */
import { transformSync } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, mirai } from '@mirai-ts/core';

const source = `
export const task = async ({ values }: { values: number[] }) => {
  const double = (x: number) => x * 2;
  const { sum } = { sum: (xs: number[]) => xs.reduce((a, b) => a + b, 0) };
  const os = await import('node:os');
  return [sum(values.map(double)), typeof os.cpus];
};`;

/** Evaluates compiled CommonJS-free output (`export` stripped) and returns `task`. */
function load(compiled: string): (args: { values: number[] }) => Promise<unknown> {
  const body = compiled.replace(/export\s+(const|function)/g, '$1').replace(/export\s*\{[^}]*\};?/g, '');
  return new Function('__name', `${body}; return task;`)((fn: unknown) => fn) as never;
}

describe('function source from toolchains', () => {
  beforeAll(async () => {
    await daemons(1);
  });
  afterAll(async () => {
    await daemons(0);
  });

  it('runs esbuild output with keepNames (what tsx produces)', async () => {
    const { code } = transformSync(source, { loader: 'ts', keepNames: true, format: 'esm', target: 'node20' });
    expect(code).toContain('__name(');
    expect(await mirai(load(code), { values: [1, 2, 3] })).toEqual([12, 'function']);
  });

  it('runs tsc output for target ES2022', async () => {
    const { outputText } = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } });
    expect(await mirai(load(outputText), { values: [1, 2, 3] })).toEqual([12, 'function']);
  });

  it('explains tsc output for an old target that calls helpers outside the function', async () => {
    const { outputText } = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2015, module: ts.ModuleKind.ESNext } });
    expect(outputText).toContain('__awaiter');
    const err = (await mirai(load(outputText), { values: [1] }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/__awaiter, a helper your toolchain inserted.*ES2017/);
  });
});
