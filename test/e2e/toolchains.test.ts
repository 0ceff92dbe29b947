/**
 * Function source after real toolchains: esbuild (tsx's engine) with keepNames, and tsc at a
 * modern and at an old target.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, mirai, TaskError } from '@mirai-ts/core';

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
    expect(err.message).toMatch(/__awaiter, a helper tsc inserted.*"target" in tsconfig.json to ES2017/);
  });
});

/**
 * Task source a CommonJS or downlevel build leaves behind, loaded the way such a build runs
 * (a real `.cjs` file, `require()`d), sent to real daemons: the error names the cause and the
 * fix that works, never "pass it in args" for what cannot travel.
 */
describe('advice for CommonJS and downlevel task source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mirai-toolchains-'));
  const requireHere = createRequire(import.meta.url);
  let files = 0;
  const task = `
export const task = async ({ n }: { n: number }) => {
  const os = await import('node:os');
  return n + 0 * os.cpus().length;
};`;

  /** Compiles `code` with tsc, writes it as a `.cjs` file and requires its `task`. */
  function tscTask(options: ts.CompilerOptions, code = task): (args: { n: number }) => Promise<number> {
    const { outputText } = ts.transpileModule(code, { compilerOptions: options, fileName: 'task.ts' });
    return requireFile(outputText);
  }
  function requireFile(code: string): (args: { n: number }) => Promise<number> {
    const path = join(dir, `task${files++}.cjs`);
    writeFileSync(path, code);
    return (requireHere(path) as { task: (args: { n: number }) => Promise<number> }).task;
  }
  async function failure(fn: (args: { n: number }) => Promise<number>): Promise<TaskError> {
    const err = await mirai(fn, { n: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).remoteClass[0]).toBe('ReferenceError');
    return err as TaskError;
  }

  beforeAll(async () => {
    await daemons(1);
  });
  afterAll(async () => {
    await daemons(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('tsc "module": "commonjs" with esModuleInterop: __importStar(require()) gets the CommonJS advice', async () => {
    const fn = tscTask({ module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true });
    expect(fn.toString()).toContain('__importStar(require(');
    const err = await failure(fn);
    expect(err.message).toMatch(/^__importStar is not defined: the task's source uses __importStar, which a CommonJS build leaves in it/);
    expect(err.message).toContain('"module": "nodenext"');
    expect(err.message).toContain('fromModule(path, name)');
    expect(err.message).not.toMatch(/pass it in args/);
  });

  it('tsc "module": "commonjs" without esModuleInterop: require() gets the same advice', async () => {
    const err = await failure(tscTask({ module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }));
    expect(err.message).toMatch(/^require is not defined: .*CommonJS build.*"module": "nodenext"/);
    expect(err.message).not.toMatch(/pass it in args/);
  });

  it('tsc ES5 + CommonJS: names __awaiter, the target to raise, and the CommonJS build too', async () => {
    const err = await failure(tscTask({ module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES5, esModuleInterop: true }));
    expect(err.message).toMatch(/^__awaiter is not defined: the task's source calls __awaiter, a helper tsc inserted in place of async functions/);
    expect(err.message).toMatch(/Raise "target" in tsconfig.json to ES2017 or later.*also compiled to CommonJS.*"module": "nodenext"/);
  });

  it('tsc importHelpers: tslib_1 is a CommonJS leftover', async () => {
    const fn = tscTask({ module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2015, importHelpers: true, esModuleInterop: true });
    expect(fn.toString()).toContain('tslib_1.__awaiter');
    const err = await failure(fn);
    expect(err.message).toMatch(/^tslib_1 is not defined: .*CommonJS build/);
  });

  it('the fix works: "module": "nodenext" keeps import() in CommonJS output, and the task runs', async () => {
    const fn = tscTask({ module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022 });
    expect(fn.toString()).toContain('await import(');
    expect(await mirai(fn, { n: 41 })).toBe(41);
  });

  it('esbuild for an old target: __async, with esbuild\'s own fix', async () => {
    const { code } = transformSync(task, { loader: 'ts', format: 'cjs', target: 'es2016' });
    const fn = requireFile(code);
    expect(fn.toString()).toContain('__async(');
    const err = await failure(fn);
    expect(err.message).toMatch(/^__async is not defined: .*a helper esbuild inserted in place of async functions.*Set esbuild's target to node20/);
    expect(err.message).not.toContain('CommonJS'); // esbuild kept import() as it is
  });

  it('esbuild CommonJS output without dynamic import: __toESM(require()) gets the CommonJS advice', async () => {
    const fn = requireFile(transformSync(task, { loader: 'ts', format: 'cjs', target: 'node20', supported: { 'dynamic-import': false } }).code);
    expect(fn.toString()).toMatch(/__toESM\(require\(/);
    expect((await failure(fn)).message).toMatch(/^__toESM is not defined: .*CommonJS build/);
  });

  it('a module-level helper function is to be moved inside the task or into a module, not passed in args', async () => {
    const fn = requireFile(
      transformSync('const double = (x: number) => x * 2;\nexport const task = ({ n }: { n: number }) => double(n);', { loader: 'ts', format: 'cjs', target: 'node20' })
        .code,
    );
    const err = await failure(fn as never);
    expect(err.message).toMatch(/^double is not defined: the task calls double, a function from the code around it/);
    expect(err.message).toContain('functions cannot be passed in args');
    expect(err.message).toMatch(/define double inside the task, or put the function in a module and call it with fromModule/);
    expect(err.message).not.toMatch(/mirai\(\(\{ double \}\)/);
  });

  it('a module-level value still gets "pass it in args"', async () => {
    const rate = 0.5;
    const err = await failure((({ n }: { n: number }) => n * rate) as never);
    expect(err.message).toMatch(/^rate is not defined: the task uses 'rate', which it was not given.*mirai\(\(\{ rate \}\) => …, \{ rate \}\)/);
  });
});
