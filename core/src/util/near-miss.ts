/** "Did you mean" for option names. */

/** One edit apart, or one a prefix of the other: close enough for "did you mean". */
export function nearMiss(a: string, b: string): boolean {
  if (a.startsWith(b) || b.startsWith(a)) return Math.abs(a.length - b.length) <= 2;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(i + 1) === b.slice(i + 1) || a.slice(i) === b.slice(i + 1) || a.slice(i + 1) === b.slice(i);
}
