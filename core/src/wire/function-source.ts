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

/** What a task-source advice says to do when all else fails: the one fix that always works. */
const FROM_MODULE = 'or put the function in a module and call it with fromModule(path, name)';

/**
 * Names a CommonJS build leaves in function bodies: `require`, the module wrapper's
 * variables and the interop helpers that tsc, esbuild, Babel, swc and webpack wrap around it.
 */
const COMMONJS_NAMES = new Set([
  'require',
  'module',
  'exports',
  '__dirname',
  '__filename',
  '__importStar',
  '__importDefault',
  '__createBinding',
  '__setModuleDefault',
  '__exportStar',
  '__toESM',
  '__toCommonJS',
  '__require',
  '_interopRequireWildcard',
  '_interopRequireDefault',
  '_interop_require_wildcard',
  '_interop_require_default',
  '__webpack_require__',
]);

/** How each toolchain is told to stop lowering modern syntax. */
const RAISE_TARGET = {
  tsc: (to: string) => `raise "target" in tsconfig.json to ${to} or later (ES2022 recommended)`,
  esbuild: (to: string) => `set esbuild's target to node20 (or ${to.toLowerCase()} or later)`,
  babel: () => `set @babel/preset-env's targets to your Node version ({ targets: { node: '20' } })`,
  swc: () => `set swc's jsc.target to es2022 (or env.targets to node 20)`,
};

type Toolchain = keyof typeof RAISE_TARGET;

/** Helpers toolchains put in function bodies when they lower syntax: who, what, and from which target on they are not needed. */
const DOWNLEVEL_HELPERS: Record<string, readonly [Toolchain, string, string]> = {
  __awaiter: ['tsc', 'async functions', 'ES2017'],
  __generator: ['tsc', 'async functions and generators', 'ES2017'],
  __assign: ['tsc', 'object spread', 'ES2018'],
  __rest: ['tsc', 'object rest', 'ES2018'],
  __spreadArray: ['tsc', 'array spread', 'ES2015'],
  __spread: ['tsc', 'array spread', 'ES2015'],
  __read: ['tsc', 'destructuring', 'ES2015'],
  __values: ['tsc', 'for…of', 'ES2015'],
  __extends: ['tsc', 'classes', 'ES2015'],
  __makeTemplateObject: ['tsc', 'tagged templates', 'ES2015'],
  __asyncGenerator: ['tsc', 'async generators', 'ES2018'],
  __asyncValues: ['tsc', 'for await…of', 'ES2018'],
  __asyncDelegator: ['tsc', 'async generators', 'ES2018'],
  __await: ['tsc', 'async generators', 'ES2018'],
  __classPrivateFieldGet: ['tsc', 'private class fields', 'ES2022'],
  __classPrivateFieldSet: ['tsc', 'private class fields', 'ES2022'],
  __async: ['esbuild', 'async functions', 'ES2017'],
  __spreadValues: ['esbuild', 'object spread', 'ES2018'],
  __spreadProps: ['esbuild', 'object spread', 'ES2018'],
  __objRest: ['esbuild', 'object rest', 'ES2018'],
  __forAwait: ['esbuild', 'for await…of', 'ES2018'],
  __publicField: ['esbuild', 'class fields', 'ES2022'],
  __privateGet: ['esbuild', 'private class fields', 'ES2022'],
  __privateSet: ['esbuild', 'private class fields', 'ES2022'],
  __privateAdd: ['esbuild', 'private class fields', 'ES2022'],
  __pow: ['esbuild', 'the ** operator', 'ES2016'],
  _asyncToGenerator: ['babel', 'async functions', 'ES2017'],
  _regeneratorRuntime: ['babel', 'generators', 'ES2015'],
  regeneratorRuntime: ['babel', 'generators', 'ES2015'],
  _objectSpread: ['babel', 'object spread', 'ES2018'],
  _objectSpread2: ['babel', 'object spread', 'ES2018'],
  _defineProperty: ['babel', 'object spread or class fields', 'ES2018'],
  _objectWithoutProperties: ['babel', 'object rest', 'ES2018'],
  _toConsumableArray: ['babel', 'array spread', 'ES2015'],
  _slicedToArray: ['babel', 'destructuring', 'ES2015'],
  _classCallCheck: ['babel', 'classes', 'ES2015'],
  _async_to_generator: ['swc', 'async functions', 'ES2017'],
  _ts_generator: ['swc', 'generators', 'ES2015'],
  _object_spread: ['swc', 'object spread', 'ES2018'],
  _object_spread_props: ['swc', 'object spread', 'ES2018'],
  _define_property: ['swc', 'object spread or class fields', 'ES2018'],
  _to_consumable_array: ['swc', 'array spread', 'ES2015'],
  _sliced_to_array: ['swc', 'destructuring', 'ES2015'],
};

const COMMONJS_ADVICE =
  'daemons run a task as ES module code, where require() and the helpers of a CommonJS file do not exist ' +
  '(tsc "module": "commonjs" turns await import(x) into Promise.resolve().then(() => __importStar(require(x)))). ' +
  'Compile the file that holds the task with "module": "nodenext" (or "node16", "esnext"), which keeps import() as it is even in CommonJS output, ' +
  `use await import() inside the task instead of require(), ${FROM_MODULE}`;

/** True when `source` holds what a CommonJS build leaves: `require(` or an interop helper call. */
function looksCommonJs(source: string): boolean {
  return /(?<![\w$.])(require|__importStar|__importDefault|__toESM|_interopRequire\w*|_interop_require_\w+)\s*\(|(?<![\w$])tslib_\d+\./.test(source);
}

/** How `name` is used in `source`: called, constructed, read as a namespace, or only as a value. */
function usage(name: string, source: string): 'call' | 'new' | 'member' | 'value' | 'absent' {
  const id = name.replace(/\$/g, '\\$');
  if (!new RegExp(`(?<![\\w$])${id}(?![\\w$])`).test(source)) return 'absent';
  if (new RegExp(`\\bnew\\s+${id}(?![\\w$])`).test(source)) return 'new';
  if (new RegExp(`(?<![\\w$.])${id}\\s*\\(`).test(source)) return 'call';
  if (new RegExp(`(?<![\\w$.])${id}\\s*\\.`).test(source)) return 'member';
  return 'value';
}

/**
 * Explains a ReferenceError raised by a task: a toolchain helper (a downlevel or CommonJS
 * one), a module-level function or class, a module imported at the top of its file, or data
 * that was not passed. With the task's `source`, the advice fits how the name is used there
 * and notes a CommonJS build around a downlevel helper.
 */
export function explainReferenceError(message: string, source?: string): string | undefined {
  const match = /^(\S+) is not defined$/.exec(message);
  if (!match) return undefined;
  const name = match[1]!;
  const commonJs = source !== undefined && looksCommonJs(source);
  const helper = DOWNLEVEL_HELPERS[name];
  if (helper) {
    const [tool, lowered, target] = helper;
    const also = commonJs ? `; it was also compiled to CommonJS: ${COMMONJS_ADVICE}` : `, ${FROM_MODULE}`;
    return (
      `${message}: the task's source calls ${name}, a helper ${tool} inserted in place of ${lowered} for an old target; ` +
      `it lives in the file the task came from, not on the daemon. ${capitalize(RAISE_TARGET[tool](target))}${also}.`
    );
  }
  if (COMMONJS_NAMES.has(name) || /^tslib(_\d+)?$/.test(name)) {
    return `${message}: the task's source uses ${name}, which a CommonJS build leaves in it; ${COMMONJS_ADVICE}.`;
  }
  if (/^cov_/.test(name)) return `${message}: coverage instrumentation was inserted into the function; exclude it from coverage, ${FROM_MODULE}.`;
  if (/^_?_?vi_import_\d+__$|^__vi_|^__vite_ssr_import_\d+__$|^import_[\w$]+$/.test(name)) {
    return `${message}: the function uses a module imported at the top of its file; import it inside the function with await import(), ${FROM_MODULE}.`;
  }
  const use = source === undefined ? 'value' : usage(name, source);
  if (use === 'absent') return undefined; // raised by code the task called, not by the task's own source
  if (use === 'call' || use === 'new') {
    const what = use === 'new' ? 'a class' : 'a function';
    return (
      `${message}: the task ${use === 'new' ? 'constructs' : 'calls'} ${name}, ${what} from the code around it. Nothing is captured implicitly, ` +
      `and functions cannot be passed in args (they have no serialized form): define ${name} inside the task, ${FROM_MODULE}.`
    );
  }
  return (
    `${message}: the task uses '${name}', which it was not given. Nothing is captured implicitly; ` +
    `pass it in args, e.g. mirai(({ ${name} }) => …, { ${name} }), or import it inside the function ` +
    `(a function cannot be passed: define it inside the task, ${FROM_MODULE}).`
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Rewrites `import(` calls to `__mirai_import(` so that bare specifiers resolve from the
 * host's working directory rather than from this package. Strings, template literals,
 * comments and regular expression literals are skipped (a `/"/` must not start a string).
 */
export function rewriteDynamicImports(source: string): string {
  if (!source.includes('import')) return source;
  let out = '';
  let last = 0;
  const n = source.length;
  let i = 0;
  const braceStack: number[] = []; // template nesting: depth of `${` braces
  let depth = 0;
  // What came last, to tell a regular expression from a division: a punctuator, or a word.
  let prev = '';
  let word = '';
  while (i < n) {
    const c = source[i]!;
    if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      i = end < 0 ? n : end;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '/' && startsRegExp(prev, word)) {
      i = skipRegExp(source, i + 1);
      prev = 'a'; // a value: a `/` after it divides
      word = '';
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n && source[i] !== c) i += source[i] === '\\' ? 2 : 1;
      i++;
      prev = c;
      word = '';
    } else if (c === '`') {
      i = skipTemplate(source, i + 1, braceStack, depth);
      prev = c;
      word = '';
    } else if (c === '}' && braceStack.length > 0 && braceStack[braceStack.length - 1] === depth) {
      braceStack.pop();
      i = skipTemplate(source, i + 1, braceStack, depth);
      prev = '`';
      word = '';
    } else if (/[\w$]/.test(c)) {
      const start = i;
      while (i < n && /[\w$]/.test(source[i]!)) i++;
      word = source.slice(start, i);
      prev = 'a';
      if (word === 'import' && isCallBoundary(source, start)) {
        out += source.slice(last, start) + '__mirai_import';
        last = i;
      }
    } else {
      if (c === '{') depth++;
      else if (c === '}') depth--;
      if (!/\s/.test(c)) {
        prev = c;
        word = '';
      }
      i++;
    }
  }
  return out + source.slice(last);
}

/** Words after which a `/` starts a regular expression rather than divides. */
const BEFORE_EXPRESSION = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

/**
 * Whether a `/` after `prev` (the last punctuator, or 'a' after a word, number, string or
 * closing bracket) starts a regular expression: after an operator, an opening bracket, a
 * comma, a semicolon, a block's `}` or an expression keyword it does; after a value it divides.
 */
function startsRegExp(prev: string, word: string): boolean {
  if (prev === 'a') return BEFORE_EXPRESSION.has(word);
  return prev !== ')' && prev !== ']' && prev !== "'" && prev !== '"' && prev !== '`';
}

/** Skips a regular expression literal's body from `i` (after its `/`), its flags too. */
function skipRegExp(source: string, i: number): number {
  const n = source.length;
  let inClass = false;
  while (i < n) {
    const c = source[i]!;
    if (c === '\\') i += 2;
    else if (c === '\n') return i; // not a regular expression after all: leave the line
    else {
      i++;
      if (c === '[') inClass = true;
      else if (c === ']') inClass = false;
      else if (c === '/' && !inClass) break;
    }
  }
  while (i < n && /[a-z]/i.test(source[i]!)) i++;
  return i;
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
