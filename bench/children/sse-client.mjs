// The dashboard's live client for the observability benchmark, in its own process as a browser
// would be: reads the page's server-sent events stream and prints one line per push received.
//   node sse-client.mjs <events URL>   → "push <bytes>" per event
const [url] = process.argv.slice(2);
if (!url) {
  process.stderr.write('usage: node sse-client.mjs <events URL>\n');
  process.exit(2);
}
const res = await fetch(url);
if (!res.ok || res.body === null) {
  process.stderr.write(`sse-client: ${url} answered ${res.status}\n`);
  process.exit(1);
}
let text = '';
for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
  text += chunk;
  // An event ends with a blank line.
  for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
    process.stdout.write(`push ${end}\n`);
    text = text.slice(end + 2);
  }
}
