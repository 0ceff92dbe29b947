/**
 * Task functions travel as source text and are compiled on the daemon: the host's half
 * (source text of a function, rewritten imports) and the advice both sides give when a
 * task's source uses something it was not given.
 */
import { ConfigError } from '../errors.js';

/** The file name task frames show in stack traces (the daemon compiles tasks under it). */
export const TASK_SOURCE_URL = 'mirai-task.js';

const sourceCache = new WeakMap<Function, string>();

/** The source text a daemon can compile back into `fn`; cached per function. */
export function functionSource(fn: Function): string {
  let source = sourceCache.get(fn);
  if (source === undefined) {
    source = normalizeSource(fn);
    sourceCache.set(fn, source);
  }
  return source;
}

function normalizeSource(fn: Function): string {
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(text)) {
    throw new ConfigError(
      `Cannot send ${fn.name ? `'${fn.name}'` : 'this function'} to a daemon: it is native or bound, so it has no source. ` +
        'Pass an arrow or function expression, or name a module export with fromModule().',
    );
  }
  if (/^class\b/.test(text)) {
    throw new ConfigError('Cannot send a class as a task: pass a function that constructs it, or use fromModule().');
  }
  if (/^(async\s*)?(\(|function\b|[\w$]+\s*=>)/.test(text)) return text;
  // Method shorthand `m() {}` / `async m() {}` / `*g() {}`: make it a function expression.
  const method = /^(async\s+)?(\*\s*)?([\w$]+|\[[^\]]*\]|'[^']*'|"[^"]*")\s*\(/.exec(text);
  if (method) {
    const [, isAsync = '', star = ''] = method;
    return `${isAsync}function${star ? '*' : ''} ${text.slice(method[0].length - 1)}`;
  }
  throw new ConfigError(`Cannot send this function to a daemon: its source does not parse as a function (${text.slice(0, 60)}…).`);
}

// ---------------------------------------------------------------------------
// Daemon side.

/** Helpers toolchains inject into function bodies, and what to tell the user. */
const TOOLCHAIN_HELPERS: Record<string, string> = {
  __awaiter: 'TypeScript down-levelled async code; compile with "target": "ES2017" or later (ES2022 recommended)',
  __generator: 'TypeScript down-levelled generators; compile with "target": "ES2017" or later',
  __assign: 'TypeScript down-levelled object spread; compile with "target": "ES2018" or later',
  __rest: 'TypeScript down-levelled object rest; compile with "target": "ES2018" or later',
  __spreadArray: 'TypeScript down-levelled array spread; compile with "target": "ES2015" or later',
  _asyncToGenerator: 'Babel down-levelled async code; target a Node version with native async functions',
  _defineProperty: 'Babel inserted a helper; target a current Node version',
  _interopRequireDefault: 'Babel inserted a helper; import modules inside the function with await import()',
};

/** Explains a ReferenceError raised by a task: a free variable, or a toolchain helper. */
export function explainReferenceError(message: string): string | undefined {
  const match = /^(\S+) is not defined$/.exec(message);
  if (!match) return undefined;
  const name = match[1]!;
  const helper = TOOLCHAIN_HELPERS[name];
  if (helper) return `${message}: the function's source calls ${name}, a helper your toolchain inserted: ${helper}, or move the code into a module and use fromModule().`;
  if (/^cov_/.test(name)) return `${message}: coverage instrumentation was inserted into the function; exclude it from coverage or use fromModule().`;
  if (/^_?_?vi_import_\d+__$|^__vi_|^__vite_ssr_import_\d+__$/.test(name)) {
    return `${message}: the function uses a module imported at the top of its file; import it inside the function with await import().`;
  }
  return (
    `${message}: the task uses '${name}', which it was not given. Nothing is captured implicitly; ` +
    `pass it in args, e.g. mirai(({ ${name} }) => …, { ${name} }), or import it inside the function.`
  );
}

/**
 * Rewrites `import(` calls to `__mirai_import(` so that bare specifiers resolve from the
 * host's working directory rather than from this package. Strings, template literals and
 * comments are skipped.
 */
export function rewriteDynamicImports(source: string): string {
  if (!source.includes('import')) return source;
  let out = '';
  let last = 0;
  const n = source.length;
  let i = 0;
  const braceStack: number[] = []; // template nesting: depth of `${` braces
  let depth = 0;
  while (i < n) {
    const c = source[i]!;
    if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      i = end < 0 ? n : end;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n && source[i] !== c) i += source[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '`') {
      i = skipTemplate(source, i + 1, braceStack, depth);
    } else if (c === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      if (braceStack.length > 0 && braceStack[braceStack.length - 1] === depth) {
        braceStack.pop();
        i = skipTemplate(source, i + 1, braceStack, depth);
      } else {
        depth--;
        i++;
      }
    } else if (c === 'i' && source.startsWith('import', i) && isCallBoundary(source, i)) {
      out += source.slice(last, i) + '__mirai_import';
      i += 6;
      last = i;
    } else {
      i++;
    }
  }
  return out + source.slice(last);
}

/** Skips template text from `i` up to its end or to a `${`, whose depth it records. */
function skipTemplate(source: string, i: number, braceStack: number[], depth: number): number {
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === '\\') i += 2;
    else if (c === '`') return i + 1;
    else if (c === '$' && source[i + 1] === '{') {
      braceStack.push(depth);
      return i + 2;
    } else i++;
  }
  return n;
}

function isCallBoundary(source: string, i: number): boolean {
  const before = source[i - 1];
  if (before !== undefined && /[\w$.]/.test(before)) return false;
  let j = i + 6;
  while (j < source.length && /\s/.test(source[j]!)) j++;
  return source[j] === '(';
}
