// A transport peer in its own process, for conformance tests that kill it (SIGKILL) and
// check that the other side notices. Runs on the built packages (dist).
//   node peer.mjs '<json {role: "dial"|"listen", url, transport: "ipc"|"tcp"|PluginRef}>'
// Prints "ready <url>" once connected (dial) or listening (listen), then idles.
import { DEFAULT_LIMITS, importPlugin, ipcTransport, tcpTransport } from '@mirai-ts/core/plugin';

const spec = JSON.parse(process.argv[2]);
const transport =
  spec.transport === 'ipc' ? ipcTransport : spec.transport === 'tcp' ? tcpTransport : await importPlugin(spec.transport);
const keep = [];
if (spec.role === 'dial') {
  const channel = await transport.dial(spec.url, { limits: DEFAULT_LIMITS });
  keep.push(channel);
  process.stdout.write(`ready ${spec.url}\n`);
} else {
  const listener = await transport.listen(spec.url, { handshakeLimits: DEFAULT_LIMITS });
  listener.onChannel = (channel) => keep.push(channel);
  process.stdout.write(`ready ${listener.url}\n`);
}
setInterval(() => {}, 60_000);
