// A launch command's stderr may echo the command, where the secret is shell-quoted.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { watchChild } from '../../src/launchers/child-output.js';
import { secretRedactor, shellQuote } from '../../src/launchers/redact.js';

describe('secret redaction', () => {
  const secret = `s3cr3t'part-TWO-ABCDEFG`;

  it('hides a secret as is, shell-quoted, JSON-escaped, and both', () => {
    const redact = secretRedactor([secret]);
    for (const form of [secret, shellQuote(secret), JSON.stringify(secret).slice(1, -1), JSON.stringify(shellQuote(secret)).slice(1, -1)]) {
      const out = redact(`before MIRAI_SECRET=${form} after`);
      expect(out).toBe('before MIRAI_SECRET=<secret> after');
    }
  });

  it("watchChild's stderr tail hides the shell-quoted secret a shell echoes", async () => {
    const child = spawn('/bin/sh', ['-c', `echo "sh: 1: MIRAI_SECRET=$1 nonexistent: not found" >&2`, 'sh', shellQuote(secret)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const watched = watchChild(child, { tag: '', output: false, redact: secret });
    await watched.exited;
    expect(watched.stderrTail().trim()).toBe('sh: 1: MIRAI_SECRET=<secret> nonexistent: not found');
  });
});
