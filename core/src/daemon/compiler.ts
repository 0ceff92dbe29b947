/**
 * Daemon side of task functions: source → function, module reference → export.
 * Compiled functions are cached by source, so a map's thousands of tasks compile once.
 */
import { existsSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModuleFunction } from '../task.js';
import { resolveImport } from './resolve.js';
import { explainReferenceError, rewriteDynamicImports, TASK_SOURCE_URL } from '../wire/function-source.js';

type AnyFunction = (...args: unknown[]) => unknown;

const compiled = new Map<string, AnyFunction>();
const MAX_CACHED = 512;

/** esbuild's keepNames helper, which it inserts into function bodies. */
function keepName<T extends object>(target: T, value: string): T {
  try {
    Object.defineProperty(target, 'name', { value, configurable: true });
  } catch {
    // frozen target: the name is cosmetic
  }
  return target;
}

// Not in a CommonJS bundle of this module (a thread's worker.cjs), whose import.meta is a shim.
const canResolveFromParent =
  process.execArgv.some((a) => a.startsWith('--experimental-import-meta-resolve')) && typeof import.meta.resolve === 'function';

/**
 * `import()` for task code: bare specifiers resolve from the working directory (the host's,
 * for local daemons), not from this package's location.
 */
export function taskImport(specifier: unknown): Promise<unknown> {
  if (typeof specifier !== 'string') return import(String(specifier));
  const cwd = process.cwd();
  if (isBuiltin(specifier) || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) return import(specifier);
  if (specifier.startsWith('/') || specifier.startsWith('./') || specifier.startsWith('../')) {
    return import(pathToFileURL(resolvePath(cwd, specifier)).href);
  }
  const parent = pathToFileURL(`${cwd}/`).href;
  let url: string | undefined;
  if (canResolveFromParent) {
    try {
      url = import.meta.resolve(specifier, parent);
    } catch {
      url = undefined;
    }
  }
  // Without the flag (mirai-daemon started by hand): resolve with the `import` condition ourselves,
  // then as require() would, for packages that only have a CommonJS `main`.
  if (url === undefined) url = resolveImport(specifier, cwd);
  if (url === undefined) {
    try {
      url = pathToFileURL(createRequire(`${cwd}/index.js`).resolve(specifier)).href;
    } catch {
      url = undefined;
    }
  }
  return import(url ?? specifier);
}

/**
 * Vitest rewrites `import(x)` in test files to `__vite_ssr_dynamic_import__(x)`, and
 * workspace packages to root-relative paths (`/pkg/src/index.ts`): resolve those from the
 * working directory.
 */
function viteImport(specifier: unknown): Promise<unknown> {
  if (typeof specifier === 'string' && specifier.startsWith('/') && !existsSync(specifier)) {
    const local = resolvePath(process.cwd(), `.${specifier}`);
    if (existsSync(local)) return import(pathToFileURL(local).href);
  }
  return taskImport(specifier);
}


let lastBytes: Uint8Array | undefined;
let lastFunction: AnyFunction | undefined;

/**
 * The function for a task's source segment. Consecutive tasks usually carry the same
 * function (a map, a loop): comparing bytes with the last one skips decoding and hashing.
 */
export function compileSegment(segment: Uint8Array): AnyFunction {
  if (lastBytes !== undefined && lastFunction !== undefined && bytesEqual(segment, lastBytes)) return lastFunction;
  const fn = compileSource(textDecoder.decode(segment));
  lastBytes = segment.slice();
  lastFunction = fn;
  return fn;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Sources up to this size are compared in a loop: cheaper than a call into native code. */
const LOOP_COMPARE_BYTES = 256;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.byteLength;
  if (n !== b.byteLength) return false;
  if (n <= LOOP_COMPARE_BYTES) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.from(a.buffer, a.byteOffset, n).equals(b);
}

/** Compiles function source (from `functionSource()`) in the daemon's global scope. */
export function compileSource(source: string): AnyFunction {
  let fn = compiled.get(source);
  if (fn !== undefined) return fn;
  const body = rewriteDynamicImports(source);
  const factory = (0, eval)(
    // The sourceURL names the task's frames in stack traces (`at fn (mirai-task.js:2:14)`).
    `(function (__name, __vite_ssr_dynamic_import__, __vi_ssr_dynamic_import__, __mirai_import) {\nreturn (${body}\n);\n})\n//# sourceURL=${TASK_SOURCE_URL}`,
  ) as (...shims: unknown[]) => unknown;
  const made = factory(keepName, viteImport, viteImport, taskImport);
  if (typeof made !== 'function') throw new TypeError(`the task source did not evaluate to a function but to ${typeof made}`);
  fn = withAdvice(made as AnyFunction, source);
  if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value as string);
  compiled.set(source, fn);
  return fn;
}

/**
 * The task's function, whose ReferenceErrors are explained with its source at hand: whether
 * the missing name is called (a module-level helper function, which cannot travel in args), a
 * toolchain's helper, or what a CommonJS build left. The explanation goes into the message,
 * so the host gets it as the task's error.
 */
function withAdvice(fn: AnyFunction, source: string): AnyFunction {
  const explain = (err: unknown): never => {
    if (err instanceof ReferenceError) {
      const advice = explainReferenceError(err.message, source);
      if (advice !== undefined) {
        const stack = err.stack;
        err.message = advice;
        if (stack !== undefined) err.stack = stack.replace(/^.*$/m, () => `${err.name}: ${advice}`);
      }
    }
    throw err;
  };
  // `arguments`, not a rest array: no allocation per call on the daemon's hot path.
  return function (this: unknown): unknown {
    let out: unknown;
    try {
      // eslint-disable-next-line prefer-rest-params
      out = fn.apply(this, arguments as unknown as unknown[]);
    } catch (err) {
      explain(err);
    }
    return out instanceof Promise ? out.catch(explain) : out;
  };
}

/**
 * A TypeScript module this daemon cannot load: it has no loader. Says where loaders come from,
 * keeping the error's class and code.
 */
function withLoaderAdvice(err: unknown): unknown {
  if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[mc]?tsx?"/.test(err.message)) {
    err.message +=
      ': this daemon has no TypeScript loader. Local daemons inherit the host\'s loaders (node --import tsx app.ts, the tsx command); ' +
      "under vitest, whose loader they cannot inherit, or with execArgv: 'none', pass execArgv: ['--import', 'tsx'] to daemons(). " +
      "Remote daemons need it on their own command line (nodeOptions: ['--import=tsx']); or point fromModule at compiled JavaScript.";
  }
  return err;
}

const moduleCache = new Map<string, AnyFunction>();

/** Imports a module function (from `fromModule()`). */
export async function loadModuleFunction(ref: ModuleFunction): Promise<AnyFunction> {
  const key = `${ref.module}#${ref.export}`;
  const cached = moduleCache.get(key);
  if (cached) return cached;
  const mod = (await taskImport(ref.module).catch((err: unknown) => {
    throw withLoaderAdvice(err);
  })) as Record<string, unknown>;
  const fn = mod[ref.export];
  if (typeof fn !== 'function') {
    throw new TypeError(`module '${ref.module}' has no exported function '${ref.export}' (found ${typeof fn})`);
  }
  moduleCache.set(key, fn as AnyFunction);
  return fn as AnyFunction;
}
