/**
 * Which benchmarks a run measures, and beside what (run.mjs): a pure function of the registry
 * and `--only`, kept apart from the runner so it is tested (test/bench/plan.test.ts).
 */

/**
 * The benchmarks to run, as slots: each slot is a benchmark followed by its limit, that
 * limit's own limit, and so on (A → `rtt` → `rtt_limit`), so every figure of a chain is
 * measured in the same machine state. A limit is measured once per round, in the slot of the
 * first benchmark that needs it; a selected benchmark that another selected one's chain reaches
 * goes in that chain's slot. Throws on an `only` token that names no benchmark or metric.
 *
 * @param {{ benches: { name: string, limit?: string }[], byName: Map<string, object>, byMetric: Map<string, object> }} registry
 * @param {string[] | null} only  benchmark or metric names (`--only`), or null for all
 */
export function plan(registry, only) {
  let selected = registry.benches;
  if (only) {
    const wanted = new Set();
    for (const token of only) {
      const b = registry.byName.get(token) ?? registry.byMetric.get(token);
      if (!b) throw new Error(`--only: no benchmark or metric named '${token}' (try --list)`);
      wanted.add(b.name);
    }
    selected = registry.benches.filter((b) => wanted.has(b.name));
  }
  const placed = new Set();
  const slots = [];
  const chainFrom = (b) => {
    const slot = [];
    for (let link = b; link !== undefined && !placed.has(link.name); link = link.limit ? registry.byName.get(link.limit) : undefined) {
      slot.push(link);
      placed.add(link.name);
    }
    slots.push(slot);
  };
  // What the chains of the selected benchmarks reach: each goes in the slot of a chain.
  const reached = new Set();
  for (const owner of selected) {
    for (let link = registry.byName.get(owner.limit); link !== undefined && !reached.has(link.name); link = registry.byName.get(link.limit)) reached.add(link.name);
  }
  for (const b of selected) if (!placed.has(b.name) && !reached.has(b.name)) chainFrom(b);
  // Benchmarks that are each other's limits (a cycle) have no owner outside it: start at the first.
  for (const b of selected) if (!placed.has(b.name)) chainFrom(b);
  return slots;
}
