import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { explainReferenceError, functionSource, rewriteDynamicImports } from '../../src/wire/function-source.js';

describe('function source', () => {
  it('turns method shorthand into a function expression', () => {
    // Built from text: the test file's own methods are rewritten by the test toolchain.
    const obj = new Function('return { run(x) { return x + 1; }, async later() { return 1; } }')() as {
      run: (x: number) => number;
      later: () => Promise<number>;
    };
    expect(functionSource(obj.run)).toMatch(/^function \(x\)/); // no name: a method name is not a binding
    expect(functionSource(obj.later)).toMatch(/^async function \(\)/);
    expect(new Function(`return (${functionSource(obj.run)})`)()(1)).toBe(2);
  });

  it('refuses native, bound and class values', () => {
    expect(() => functionSource(Math.max)).toThrow(ConfigError);
    expect(() => functionSource((() => 1).bind(null))).toThrow(/native or bound/);
    expect(() => functionSource(class A {})).toThrow(/class/);
  });

  it('rewrites import() calls but not strings, comments, templates or members', () => {
    const src = "async () => { const a = await import('x'); const s = 'import(1)'; /* import(2) */ const t = `import(${await import('y')})`; o.import(3); return import.meta; }";
    const out = rewriteDynamicImports(src);
    expect(out).toContain("await __mirai_import('x')");
    expect(out).toContain("'import(1)'");
    expect(out).toContain('/* import(2) */');
    expect(out).toContain("`import(${await __mirai_import('y')})`");
    expect(out).toContain('o.import(3)');
    expect(out).toContain('import.meta');
  });

  it('skips regular expression literals: a quote or slash in one starts nothing, and divisions stay code', () => {
    const src = "async () => { const re = /\"/; const s = \"please import(x) \" + re.source; const q = /[/'`]/g.test(s) ? 4 / 2 : 1; const m = await import('z'); return typeof /import(1)/ === 'object' ? m : s; }";
    const out = rewriteDynamicImports(src);
    expect(out).toContain('"please import(x) "'); // inside a string, after the regexp /"/
    expect(out).toContain("/[/'`]/g.test(s) ? 4 / 2 : 1"); // a class with a slash and quotes; a division
    expect(out).toContain("await __mirai_import('z')");
    expect(out).toContain('typeof /import(1)/'); // a regexp after a keyword
    expect(new Function(`return (${out})`)).not.toThrow(); // still valid code
  });

  it('explains free variables and toolchain helpers', () => {
    expect(explainReferenceError('rate is not defined')).toMatch(/uses 'rate', which it was not given/);
    expect(explainReferenceError('__awaiter is not defined')).toMatch(/target/);
    expect(explainReferenceError('something else')).toBeUndefined();
  });

  it('fits the advice to how the task source uses the name', () => {
    const calls = explainReferenceError('helper is not defined', '({ x }) => helper(x) + 1');
    expect(calls).toMatch(/the task calls helper, a function from the code around it.*define helper inside the task.*fromModule/);
    expect(calls).not.toContain('mirai(({ helper })');
    expect(explainReferenceError('Model is not defined', '() => new Model()')).toMatch(/constructs Model, a class/);
    expect(explainReferenceError('path is not defined', '() => path.join("a")')).toMatch(/pass it in args.*or import it inside the function/);
    // Raised by code the task called, not by its own source: no claim about the task.
    expect(explainReferenceError('other is not defined', '() => run()')).toBeUndefined();
    // `o.helper(` is a member call, not the free name.
    expect(explainReferenceError('helper is not defined', '() => o.helper(1) + helper')).toMatch(/uses 'helper'/);
  });

  it('names the toolchain and its own fix for downlevel helpers', () => {
    expect(explainReferenceError('_asyncToGenerator is not defined')).toMatch(/babel inserted.*@babel\/preset-env's targets/);
    expect(explainReferenceError('_async_to_generator is not defined')).toMatch(/swc inserted.*jsc\.target to es2022/);
    expect(explainReferenceError('__spreadValues is not defined')).toMatch(/esbuild inserted in place of object spread.*es2018/);
    expect(explainReferenceError('__awaiter is not defined', 'function (a) { return __awaiter(this, void 0, void 0, function () {}) }')).not.toContain(
      'CommonJS',
    );
    expect(explainReferenceError('__awaiter is not defined', '() => __awaiter(0, [], 0, function* () { yield require("x") })')).toMatch(
      /also compiled to CommonJS/,
    );
    expect(explainReferenceError('__dirname is not defined')).toMatch(/CommonJS build/);
  });
});
