/** Helpers for the remote tests: secret-leak checks and the launch spec of a profile. */
import { readdirSync, readFileSync } from 'node:fs';
import { launchRemote, type LaunchSpec, type Launcher } from '@mirai-ts/core';

/** PIDs (with their command lines) of every process whose argv contains `needle`. */
export function processesWithArgv(needle: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (cmd.includes(needle)) found.push({ pid: Number(entry), cmd: cmd.replace(/\0/g, ' ') });
    } catch {
      // gone already
    }
  }
  return found;
}

/** The argv of one process, as a single string. */
export function argvOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** A secret that is easy to search for and could not occur by accident. */
export function testSecret(): string {
  return `test-secret-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
}

/**
 * The launch spec a profile hands its launchers, caught by a launcher that starts nothing
 * (the smallest possible implementation of the Launcher interface).
 */
export async function specOf(profile?: string): Promise<LaunchSpec> {
  let seen: LaunchSpec | undefined;
  const spy: Launcher = {
    kind: 'spy',
    async launch(spec) {
      seen = spec;
      return [];
    },
  };
  await launchRemote(1, spy, profile === undefined ? {} : { profile });
  if (seen === undefined) throw new Error('the spy launcher was not called');
  return seen;
}
