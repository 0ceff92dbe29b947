/**
 * Resolving a bare specifier from a directory the way `import` does (the `import` condition
 * of package exports), for daemons whose Node cannot: `import.meta.resolve(specifier, parent)`
 * needs `--experimental-import-meta-resolve` on Node 20, which `mirai-daemon` started by hand
 * does not have, and `createRequire().resolve()` uses the `require` condition, which a package
 * with only an `import` export does not offer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Exports = string | null | readonly Exports[] | { readonly [key: string]: Exports };

/** The conditions `import` matches in Node, with the process's own `--conditions`. */
function importConditions(): Set<string> {
  const conditions = new Set(['node', 'import', 'default']);
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--conditions' || arg === '-C') conditions.add(argv[++i] ?? '');
    else if (arg.startsWith('--conditions=')) conditions.add(arg.slice('--conditions='.length));
  }
  return conditions;
}

/**
 * The file URL `import(specifier)` would load from a module in `baseDir`, or undefined when
 * the package is not found there or its exports do not offer the subpath to `import`.
 */
export function resolveImport(specifier: string, baseDir: string): string | undefined {
  const match = /^((?:@[^/]+\/)?[^/@][^/]*)(\/.*)?$/.exec(specifier);
  if (!match) return undefined;
  const [, name, rest = ''] = match as unknown as [string, string, string | undefined];
  const subpath = `.${rest}`;
  for (let dir = baseDir; ; dir = dirname(dir)) {
    const own = join(dir, 'package.json');
    // A package importing itself by name (self-reference) resolves through its own exports.
    const candidates = [join(dir, 'node_modules', name, 'package.json'), ...(readName(own) === name ? [own] : [])];
    for (const manifest of candidates) {
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Exports; main?: string };
      const target = pkg.exports === undefined ? legacyTarget(pkg.main, subpath) : exportsTarget(pkg.exports, subpath, importConditions());
      if (target === undefined) return undefined;
      const file = join(dirname(manifest), target);
      return existsSync(file) ? pathToFileURL(file).href : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function readName(manifest: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/** A package without `exports`: `main` (or index.js) for the root, the file itself for a subpath. */
function legacyTarget(main: string | undefined, subpath: string): string | undefined {
  if (subpath !== '.') return subpath;
  return main ?? 'index.js';
}

/** The target of `subpath` in an `exports` field: exact keys first, then the longest `*` pattern. */
function exportsTarget(exports: Exports, subpath: string, conditions: Set<string>): string | undefined {
  const isSubpathMap = typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditionTarget(exports, conditions, undefined) : undefined;
  const map = exports as { readonly [key: string]: Exports };
  if (subpath in map) return conditionTarget(map[subpath]!, conditions, undefined);
  let best: { key: string; star: string } | undefined;
  for (const key of Object.keys(map)) {
    const at = key.indexOf('*');
    if (at < 0) continue;
    const [prefix, suffix] = [key.slice(0, at), key.slice(at + 1)];
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1 && (best === undefined || prefix.length > best.key.indexOf('*'))) {
      best = { key, star: subpath.slice(prefix.length, subpath.length - suffix.length) };
    }
  }
  return best === undefined ? undefined : conditionTarget(map[best.key]!, conditions, best.star);
}

/** Picks a target by conditions (first matching key wins, as in Node), filling in a pattern's `*`. */
function conditionTarget(target: Exports, conditions: Set<string>, star: string | undefined): string | undefined {
  if (typeof target === 'string') return star === undefined ? target : target.replaceAll('*', star);
  if (target === null) return undefined;
  if (Array.isArray(target)) {
    for (const item of target as readonly Exports[]) {
      const found = conditionTarget(item, conditions, star);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(target as { readonly [key: string]: Exports })) {
    if (!conditions.has(key)) continue;
    const found = conditionTarget(value, conditions, star);
    if (found !== undefined) return found;
  }
  return undefined;
}
