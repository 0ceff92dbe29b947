// An OTLP/HTTP collector stand-in for the observability benchmark: accepts every trace export
// on 127.0.0.1, keeps nothing, and reports on stdout its port, then one line per export:
//   node otlp-sink.mjs        → "port 40123", then "export <bytes>" per request
// It runs in its own process, as a collector would, so receiving costs the host nothing.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    process.stdout.write(`export ${bytes}\n`);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
// Keep-alive connections from exporters would hold close() open: stop at once.
process.on('SIGTERM', () => process.exit(0));
