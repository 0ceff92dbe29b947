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
import { expect } from 'vitest';

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
  /** Extra environment of the child (MIRAI_FUZZ_TRACE=1: log each case to stderr first). */
  readonly env?: Record<string, string>;
  /** Heap cap of the child, MB. */
  readonly heapMb?: number;
}

export interface FuzzReport {
  readonly iterations: number;
  readonly decoded: number;
  readonly rejected: number;
  readonly touchErrors: number;
  readonly escapes: readonly { case: number | string; seed?: number; steps?: string[]; error: string }[];
  readonly maxRssMb: number;
  /** How many of the valid payloads still decoded after the fuzzing. */
  readonly intactAfter: number;
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
      env: { ...process.env, ...spec.env },
    });
    // A decoder stuck in a loop a forged count dictates: the child dies, the test reports it.
    const timer = setTimeout(() => child.kill('SIGKILL'), FUZZ_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-(Number(process.env.FUZZ_STDERR_MAX) || 20_000))));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const line = stdout.trim().split('\n').pop();
    const report = line?.startsWith('{') ? (JSON.parse(line) as FuzzReport) : undefined;
    return { code, signal, report, stderr, ms: Date.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the fuzzer and asserts the child survived: it exited by itself, no error other than a
 * MiraiError escaped a decode, the mutations were mostly caught (and some harmless ones
 * decoded), memory stayed under the child's limit, and every valid payload still decodes at
 * the end. Native libraries may print caught panics to stderr; that is allowed, a crash is not.
 */
export async function expectFuzzSurvives(spec: FuzzSpec): Promise<FuzzReport> {
  const run = await runFuzz(spec);
  const report = run.report;
  expect({ code: run.code, signal: run.signal, stderr: run.code === 0 ? '' : run.stderr.slice(-2000) }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(report?.escapes).toEqual([]);
  expect(report!.decoded + report!.rejected).toBe(spec.iterations);
  expect(report!.rejected).toBeGreaterThan(spec.iterations / 4);
  expect(report!.decoded).toBeGreaterThan(0);
  expect(report!.maxRssMb).toBeLessThan(spec.heapMb ?? 1024);
  expect(report!.intactAfter).toBe(spec.values.length);
  return report!;
}
