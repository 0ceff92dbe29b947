/**
 * A thread daemon's entry: runs core's daemon loop in this worker thread, dialling the host
 * over the thread transport, and ends the thread with the loop's exit code.
 */
import { workerData } from 'node:worker_threads';
import type { ThreadWorkerData } from './thread-launcher.js';
import { runDaemon, threadTransport } from './thread-transport.js';

const data = workerData as ThreadWorkerData;
// Task output reaches the host's stdout only with `output`, as a process daemon's does (its
// stdout is ignored otherwise). Dropped here: a piped Worker stdout kept the host alive.
if (data.options.output !== true && data.options.output !== 'host') process.stdout.write = () => true;
const code = await runDaemon({
  ...data.options,
  watchdog: undefined,
  // The thread's channel polls for its next task itself (threadDaemons({ spin })).
  spin: 0,
  url: data.url,
  secret: data.secret,
  launchId: data.launchId,
  transport: threadTransport({ transfer: data.transfer, spin: data.spin }),
  log: (line) => void process.stderr.write(`[mirai-thread ${data.launchId}] ${line}\n`),
});
process.exit(code);
