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

  it('explains free variables and toolchain helpers', () => {
    expect(explainReferenceError('rate is not defined')).toMatch(/uses 'rate', which it was not given/);
    expect(explainReferenceError('__awaiter is not defined')).toMatch(/target/);
    expect(explainReferenceError('something else')).toBeUndefined();
  });
});
