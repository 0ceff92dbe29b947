/**
 * The transport a daemon process dials with. Its own module, apart from the other daemon-side
 * plugin loading (plugins.ts), because it pulls in the built-in transports (TCP, TLS, IPC and
 * certificate code): a daemon given its transport (a thread daemon, `runDaemon({ transport })`)
 * never loads them.
 */
import type { PluginRef, Transport } from '../transport.js';
import { transportFor } from '../transports/builtin.js';
import { importPlugin } from './plugins.js';

/** The transport a daemon dials with: a plugin's, when the host named one, else a built-in one for the URL. */
export async function loadTransport(url: string, ref: PluginRef | undefined): Promise<Transport> {
  return ref === undefined ? transportFor(url) : ((await importPlugin(ref)) as Transport);
}
