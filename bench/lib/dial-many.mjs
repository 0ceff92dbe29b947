/**
 * Opens many connections from one child (the daemon simulator, the raw many-connection echo):
 * `dialOne()` `count` times, at most `atOnce` pending together. Exits the process with the
 * first error, named after `who`.
 */
export async function dialMany(who, count, atOnce, dialOne) {
  let next = 0;
  const dialer = async () => {
    while (next < count) {
      next++;
      await dialOne();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(atOnce, count) }, dialer));
  } catch (err) {
    process.stderr.write(`${who}: ${err.message}\n`);
    process.exit(1);
  }
}
