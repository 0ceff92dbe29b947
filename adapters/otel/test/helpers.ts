/** What the otel tests share: a metric reader they collect from at will, and a wait. */
import { MetricReader } from '@opentelemetry/sdk-metrics';

/** A reader with nothing to export to: a test calls `collect()` when it wants the metrics. */
export class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Resolves once `check()` holds; throws after `ms`. */
export async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
