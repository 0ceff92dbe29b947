/**
 * The profile's secret reaches batch jobs through a file only its owner can read, in a
 * directory only its owner can enter, on a file system the compute nodes share (the home
 * directory by default). The job script holds only the file's path, so the secret is in no
 * script, argv, job record or job environment. Files are removed when the profile resets.
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@mirai-ts/core';

/** Where secrets go when no `secretDir` is given: under the home directory, shared on clusters. */
export const defaultSecretDir = (): string => join(homedir(), '.mirai-ts', 'secrets');

export class SecretFiles {
  constructor(
    readonly dir: string,
    /** Distinguishes this launcher's files from another's for the same profile name. */
    private readonly token: string,
  ) {}

  /**
   * The file for a profile (the same path every time, so job scripts can be shown in advance):
   * the name made safe for readers, plus a hash of the exact name, so that profiles whose safe
   * forms agree (`gpu:1`, `gpu_1`) never share a file.
   */
  path(profile: string): string {
    const readable = profile.replace(/[^\w.-]/g, '_').slice(0, 64);
    const hash = createHash('sha256').update(profile).digest('hex').slice(0, 8);
    return join(this.dir, `${this.token}-${readable}-${hash}.secret`);
  }

  /** Writes the secret, mode 0600, in a 0700 directory owned by this user. */
  write(profile: string, secret: string): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const st = statSync(this.dir);
    if (process.getuid !== undefined && st.uid !== process.getuid()) {
      throw new ConfigError(`secretDir '${this.dir}' belongs to another user (uid ${st.uid}); give a directory of your own`);
    }
    // A directory made earlier with looser permissions is tightened rather than trusted.
    if ((st.mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
    const file = this.path(profile);
    // Never write into a file that exists (its mode may be looser, or it may be a link): a new
    // file, renamed over the old one at once, so a job of an earlier launch that reads the
    // file meanwhile never finds it missing.
    const fresh = `${file}.${randomUUID().slice(0, 8)}.tmp`;
    writeFileSync(fresh, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    try {
      renameSync(fresh, file);
    } catch (err) {
      rmSync(fresh, { force: true });
      throw err;
    }
    return file;
  }

  remove(profile: string): void {
    rmSync(this.path(profile), { force: true });
  }
}
