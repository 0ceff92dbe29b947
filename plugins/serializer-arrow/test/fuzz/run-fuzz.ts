/**
 * Runs fuzz-child.mjs against a serializer in a separate Node process and returns its report.
 * Shared by the Arrow, Polars and ONNX plugins' fuzz tests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePayload } from '@mirai-ts/core/plugin';
import type { Serializer } from '@mirai-ts/core';

export interface FuzzSpec {
  /** File URL of the plugin's built entry (the child runs built code). */
  readonly plugin: URL;
  readonly exportName: string;
  readonly options?: unknown;
  /** The serializer used here to encode the valid values. */
  readonly serializer: Serializer;
  /** Valid values the serializer claims (inside plain containers if wished). */
  readonly values: readonly unknown[];
  readonly iterations: number;
  readonly seed: number;
  /** Heap cap of the child, MB. */
  readonly heapMb?: number;
}

export interface FuzzReport {
  readonly iterations: number;
  readonly decoded: number;
  readonly rejected: number;
  readonly touchErrors: number;
  readonly escapes: readonly { case: number; seed: number; steps: string[]; error: string }[];
  readonly maxRssMb: number;
  readonly overLimitAt?: unknown;
}

export interface FuzzRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly report?: FuzzReport;
  readonly stderr: string;
  readonly ms: number;
}

/** Iterations: `short` normally, `long` when MIRAI_CHAOS_LONG=1 (`pnpm chaos`). */
export function fuzzIterations(short: number, long: number): number {
  return process.env.MIRAI_CHAOS_LONG === '1' ? long : short;
}

/** How long a fuzz child may run before it is killed (and the test fails). */
export const FUZZ_TIMEOUT_MS = fuzzIterations(60_000, 1_200_000);

export async function runFuzz(spec: FuzzSpec): Promise<FuzzRun> {
  const payloads: string[][] = [];
  for (const value of spec.values) {
    const segments = await encodePayload(value, [spec.serializer], 'result');
    payloads.push(segments.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('base64')));
  }
  const heapMb = spec.heapMb ?? 1024;
  const dir = mkdtempSync(join(tmpdir(), 'mirai-fuzz-'));
  const file = join(dir, 'spec.json');
  writeFileSync(
    file,
    JSON.stringify({
      plugin: spec.plugin.href,
      exportName: spec.exportName,
      options: spec.options,
      payloads,
      iterations: spec.iterations,
      seed: spec.seed,
      rssLimitMb: heapMb + 512,
    }),
  );
  const started = Date.now();
  try {
    const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, fileURLToPath(new URL('./fuzz-child.mjs', import.meta.url)), file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A decoder stuck in a loop a forged count dictates: the child dies, the test reports it.
    const timer = setTimeout(() => child.kill('SIGKILL'), FUZZ_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.length + stderr.length > 20_000 ? '' : d));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const line = stdout.trim().split('\n').pop();
    const report = line?.startsWith('{') ? (JSON.parse(line) as FuzzReport) : undefined;
    return { code, signal, report, stderr, ms: Date.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
