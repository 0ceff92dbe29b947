import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModuleFunction } from '../task.js';

/**
 * Names an exported function of a module as a task: `mirai(fromModule('./fit.js', 'fit'), args)`.
 * A relative path is resolved against the host's working directory now; a bare specifier
 * (`'my-pkg/tasks'`) is resolved by the daemon from the host's working directory.
 */
export function fromModule(specifier: string | URL, exportName = 'default'): ModuleFunction {
  let module = String(specifier);
  if (module.startsWith('./') || module.startsWith('../') || isAbsolute(module)) {
    module = pathToFileURL(resolve(process.cwd(), module)).href;
  }
  return { module, export: exportName };
}
