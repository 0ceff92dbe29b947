/**
 * Starts daemons as worker threads of the host process. Each runs core's daemon loop
 * (`runDaemon`) and dials the host over the `thread://` transport. `kill()` terminates the
 * thread, which is how a thread stuck in a cancelled task is replaced.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { ConfigError, LaunchError, type LaunchHandle, type Launcher, type LaunchSpec } from '@mirai-ts/core';
import type { DaemonOptions } from '@mirai-ts/core';
import { acceptDial, checkThreadOptions, type ThreadTransportOptions } from './thread-transport.js';
import { workerScript } from './worker-script.js';

/** What a thread daemon gets (in memory: the secret never leaves the process). */
export interface ThreadWorkerData {
  readonly url: string;
  readonly secret: string;
  readonly launchId: string;
  readonly options: DaemonOptions;
  readonly transfer: boolean;
  /**
   * How long the thread's channel polls after a result (ThreadTransportOptions.spin): the
   * launcher's own, else the profile's `spin` (0 with prefetch), else the default.
   */
  readonly spin: number;
}

/**
 * The host's Node flags without export conditions: a test runner's `--conditions=source` would
 * make the worker import TypeScript sources it cannot run. Undefined (inherit) when there is
 * nothing to drop. V8 flags (`--expose-gc`, `--max-old-space-size=256`) go too: a Worker given
 * its flags explicitly rejects them, while it ignores them when it inherits them (they are the
 * process's anyway).
 */
/**
 * The V8 options Node allows in NODE_OPTIONS (its docs list them): Node's own flags are the
 * rest of `process.allowedNodeEnvironmentFlags`. A Worker refuses these in an explicit execArgv.
 */
const V8_FLAGS: ReadonlySet<string> = new Set([
  '--abort-on-uncaught-exception',
  '--disallow-code-generation-from-strings',
  '--enable-etw-stack-walking',
  '--expose-gc',
  '--huge-max-old-generation-size',
  '--interpreted-frames-native-stack',
  '--jitless',
  '--max-old-space-size',
  '--max-semi-space-size',
  '--perf-basic-prof-only-functions',
  '--perf-basic-prof',
  '--perf-prof-unwinding-info',
  '--perf-prof',
  '--stack-trace-limit',
]);

function workerExecArgv(): string[] | undefined {
  const out: string[] = [];
  const argv = process.execArgv;
  // Whether the last flag was kept: a word that is not a flag is its value (`--import tsx`).
  let kept = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--conditions' || a === '-C') i++;
    else if (!a.startsWith('-')) {
      if (kept) out.push(a);
    } else {
      const name = a.split('=')[0]!;
      kept = !a.startsWith('--conditions=') && process.allowedNodeEnvironmentFlags.has(name) && !V8_FLAGS.has(name);
      if (kept) out.push(a);
    }
  }
  return out.length === argv.length ? undefined : out;
}

/** Node flags a thread daemon takes, as the Worker's `resourceLimits` they stand for. */
const HEAP_FLAGS: Readonly<Record<string, keyof ResourceLimits>> = {
  '--max-old-space-size': 'maxOldGenerationSizeMb',
  '--max-semi-space-size': 'maxYoungGenerationSizeMb',
  '--stack-size': 'stackSizeMb',
};

/**
 * The daemons' `nodeOptions` as the Worker's resource limits (a thread has no command line of
 * its own): the heap and stack sizes, each a number. Any other flag is a ConfigError naming it,
 * not a flag silently dropped.
 */
function resourceLimits(nodeOptions: readonly string[] | undefined): ResourceLimits | undefined {
  if (nodeOptions === undefined || nodeOptions.length === 0) return undefined;
  const limits: { -readonly [K in keyof ResourceLimits]?: number } = {};
  for (const flag of nodeOptions) {
    const [name, value] = flag.split('=') as [string, string | undefined];
    const limit = HEAP_FLAGS[name];
    const n = value === undefined ? NaN : Number(value);
    if (limit === undefined || !(n > 0)) {
      throw new ConfigError(
        `thread daemons cannot take the node flag '${flag}': a thread has no command line; they take ${Object.keys(HEAP_FLAGS).map((f) => `${f}=<MB>`).join(', ')} (as the Worker's resourceLimits)`,
      );
    }
    // --stack-size is in KB on the command line, stackSizeMb in MB.
    limits[limit] = limit === 'stackSizeMb' ? n / 1024 : n;
  }
  return limits;
}

let launches = 0;

/** A launcher of thread daemons; its options are those of the daemons' thread transport (and must match the profile's). */
export function threadLauncher(options: ThreadTransportOptions = {}): Launcher {
  const { transfer, spin } = checkThreadOptions(options, 'threadLauncher()');
  return {
    kind: 'thread',
    checkOptions: (daemonOptions) => {
      // Before the running profile is reset: a missing or mismatched worker script refuses daemons() at once.
      workerScript();
      resourceLimits(daemonOptions.nodeOptions);
    },
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      if (!spec.url.startsWith('thread://')) throw new LaunchError(`thread daemons dial thread:// URLs; this profile listens at ${spec.url}`);
      const script = workerScript();
      const limits = resourceLimits(spec.options.nodeOptions);
      const handles: LaunchHandle[] = [];
      for (let i = 0; i < n; i++) {
        const launchId = `thread-${++launches}`;
        const data: ThreadWorkerData = { url: spec.url, secret: spec.secret, launchId, options: spec.options, transfer, spin: options.spin ?? spec.options.spin ?? spin };
        const worker = new Worker(script, { workerData: data, execArgv: workerExecArgv(), resourceLimits: limits });
        worker.on('message', (message: unknown) => void acceptDial(message, spec.url));
        worker.on('error', (err) => process.stderr.write(`[mirai-ts] thread daemon ${launchId} failed: ${err.message}\n`));
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once('exit', (code) => resolve({ code, signal: null })));
        // Threads never keep the host alive on their own: the connection does while tasks are
        // out. Last: adding a 'message' listener refs the worker's port again.
        worker.unref();
        handles.push({ id: launchId, exited, kill: () => void worker.terminate() });
      }
      return handles;
    },
  };
}
