import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { show } from '../options-check.js';
import type { ModuleFunction } from '../task.js';

/**
 * Names an exported function of a module as a task: `mirai(fromModule('./fit.js', 'fit'), args)`.
 * A relative path is resolved against the host's working directory now; a bare specifier
 * (`'my-pkg/tasks'`) is resolved by the daemon from the host's working directory.
 */
export function fromModule(specifier: string | URL, exportName = 'default'): ModuleFunction {
  if (!(specifier instanceof URL) && (typeof specifier !== 'string' || specifier === '')) {
    throw new ConfigError(`fromModule(specifier, exportName): specifier must be a module path, URL or package name, got ${show(specifier)}`);
  }
  if (typeof exportName !== 'string' || exportName === '') {
    throw new ConfigError(`fromModule(specifier, exportName): exportName must be the name of an exported function, got ${show(exportName)}`);
  }
  let module = String(specifier);
  if (module.startsWith('./') || module.startsWith('../') || isAbsolute(module)) {
    module = pathToFileURL(resolve(process.cwd(), module)).href;
  }
  return { module, export: exportName };
}
