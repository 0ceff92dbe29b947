/**
 * `node:crypto`, loaded on its first use instead of with the module that needs it. A thread
 * daemon never uses it (its channel needs no proofs, its stream comes in Init), and loading it
 * costs every isolate about 2,900 heap objects (0.25 MB) and 4 ms: more work in each of the
 * thread's collections, which a large array's arrival makes V8 run (docs/performance.md).
 */
import { createRequire } from 'node:module';

type NodeCrypto = typeof import('node:crypto');

let loaded: NodeCrypto | undefined;

/** The `node:crypto` module (the same object `import` gives), loaded on the first call. */
export function nodeCrypto(): NodeCrypto {
  return (loaded ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto);
}
