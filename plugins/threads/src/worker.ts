/**
 * A thread daemon's entry: runs core's daemon loop in this worker thread, dialling the host
 * over the thread transport, and ends the thread with the loop's exit code.
 *
 * Built as one CommonJS script (dist/worker.cjs) that carries core's daemon side: a worker whose
 * entry is an ES module starts Node's ESM loader (which loads fs/promises and readline) and keeps
 * a module record per file, 0.4–0.5 MB more live heap than this script. Each collection of the
 * thread's isolate marks that heap again, and a 100 MB array arriving starts one (V8's external
 * memory limit): moving large arrays took ~10% longer. The copy of core it carries speaks the
 * protocol of the core it was built with; the handshake refuses any other.
 */
import { workerData } from 'node:worker_threads';
import type { ThreadWorkerData } from './thread-launcher.js';
import { runDaemon, threadTransport } from './thread-transport.js';

const data = workerData as ThreadWorkerData;
// Task output reaches the host's stdout only with `output`, as a process daemon's does (its
// stdout is ignored otherwise). Dropped here: a piped Worker stdout kept the host alive.
if (data.options.output !== true && data.options.output !== 'host') process.stdout.write = () => true;
void runDaemon({
  ...data.options,
  watchdog: undefined,
  // The thread's channel polls for its next task itself (threadDaemons({ spin })).
  spin: 0,
  url: data.url,
  secret: data.secret,
  launchId: data.launchId,
  transport: threadTransport({ transfer: data.transfer, spin: data.spin }),
  log: (line) => void process.stderr.write(`[mirai-thread ${data.launchId}] ${line}\n`),
}).then((code) => process.exit(code));
