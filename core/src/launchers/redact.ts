/**
 * Shell quoting, and taking secrets out of text a launcher shows (errors, a command's stderr).
 * Together because a secret travels shell-quoted in launch commands, so the redaction must
 * know the quoting; a module of its own so that every launcher can use both without an
 * import cycle (local.ts re-exports `shellQuote`).
 */

/** POSIX shell quoting for command lines shown to users. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Replaces every given value by `<secret>`: as is, JSON-escaped (a request body), shell-quoted
 * (a launch command: `'a'\''b'` for a value holding a quote, which the plain value does not
 * match) and both. Values shorter than `shortest` characters are left alone (they would
 * blank out ordinary text).
 */
export function secretRedactor(values: readonly (string | undefined)[], shortest = 4): (text: string) => string {
  const needles = new Set<string>();
  for (const v of values) {
    if (v === undefined || v === '' || v.length < shortest) continue;
    const quoted = shellQuote(v);
    for (const form of [v, quoted]) {
      needles.add(form);
      needles.add(JSON.stringify(form).slice(1, -1));
    }
  }
  // Longest first: a quoted form holds pieces of the plain one.
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const needle of ordered) out = out.split(needle).join('<secret>');
    return out;
  };
}
