/**
 * sshConfig() without an sshd: remote URL parsing, option checks, and the exact ssh argv
 * it builds. The real-sshd tests are in test/remote/ssh.test.ts.
 */
import { ConfigError, type LaunchSpec } from '@mirai-ts/core';
import { describe, expect, it } from 'vitest';
import { parseRemote, sshConfig } from '../src/index.js';

const spec = (url: string): LaunchSpec => ({ url, secret: 'the-secret-value', options: { maxtasks: 3 }, profile: 'p', dialOptions: { ca: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n' } });

describe('parseRemote', () => {
  it('reads user, host and port, with port 22 by default', () => {
    expect(parseRemote('ssh://alice@node1:2222')).toEqual({ url: 'ssh://alice@node1:2222', user: 'alice', host: 'node1', port: 2222, destination: 'alice@node1' });
    expect(parseRemote('ssh://node1')).toMatchObject({ user: undefined, port: 22, destination: 'node1' });
    expect(parseRemote('ssh://bob@[fd00::5]:22')).toMatchObject({ host: 'fd00::5', destination: 'bob@fd00::5' });
    expect(parseRemote('ssh://10.0.0.7/')).toMatchObject({ host: '10.0.0.7' });
  });

  it('refuses anything ssh could misread', () => {
    for (const bad of ['node1', 'http://node1', 'ssh://-oProxyCommand=x', 'ssh://-x@node1', 'ssh://a:pw@node1', 'ssh://node1/path', 'ssh://node1:0', 'ssh://node1?x=1']) {
      expect(() => parseRemote(bad), bad).toThrow(ConfigError);
    }
  });
});

describe('sshConfig', () => {
  it('builds an argv with batch mode, a connect timeout and the secret on stdin only', () => {
    const launcher = sshConfig({ remotes: ['ssh://alice@node1:2222'], timeout: 4_500, sshOptions: ['-i', '/keys/id'], cwd: '/srv/app', node: '/opt/node/bin/node', script: '/srv/app/d.js' });
    expect(launcher.kind).toBe('ssh');
    const [line] = launcher.commands!(spec('tls+tcp://10.0.0.1:5555'), 1);
    expect(line).toMatch(/^ssh -o BatchMode=yes -o ConnectTimeout=5 -T -p 2222 -i \/keys\/id -- alice@node1 '/);
    // The secret goes to the daemon by an assignment prefix: exported, the cat beside it would hold it too.
    expect(line).toContain('cd /srv/app && IFS= read -r MIRAI_SECRET && exec 3>&1 && mirai_status=$( { { MIRAI_SECRET="$MIRAI_SECRET" /opt/node/bin/node');
    expect(line).toContain('/srv/app/d.js tls+tcp://10.0.0.1:5555 --maxtasks=3');
    // The daemon ends when ssh's stdin does (ssh -T passes no hang-up on); the shell stays to wait for it.
    expect(line).toMatch(/ --exit-on-stdin-eof 3>&- 4>&-; mirai_s=\$\?; .* echo "\$mirai_s" >&4; \} \| cat >&3; \} 4>&1 \) && exit "\$mirai_status"'$/);
    expect(line).not.toContain('exec /opt/node/bin/node');
    expect(line).toContain('--dial-options=');
    expect(line).not.toContain('the-secret-value');
  });

  it('one session per remote: several daemons start in the background and are waited for', () => {
    const [line] = sshConfig({ remotes: ['ssh://node1'] }).commands!(spec('tcp://10.0.0.1:5555'), 3);
    expect(line!.match(/MIRAI_LAUNCH_ID=daemon-\d/g)).toHaveLength(3);
    expect(line!.match(/--exit-on-stdin-eof <&5 3>&- 4>&- 5<&- &/g)).toHaveLength(3);
    expect(line).toContain(' wait; } 5<&0;');
  });

  it('spreads daemons over remotes in turn; n = 1 means one on each', () => {
    const launcher = sshConfig({ remotes: ['ssh://a', 'ssh://b', 'ssh://c'] });
    expect(launcher.commands!(spec('tcp://10.0.0.1:1'), 1)).toHaveLength(3);
    const lines = launcher.commands!(spec('tcp://10.0.0.1:1'), 4);
    expect(lines).toHaveLength(3);
    expect(lines[0]!.match(/MIRAI_LAUNCH_ID/g)).toHaveLength(2); // a gets the 4th
    expect(lines[1]).not.toContain('MIRAI_LAUNCH_ID'); // one daemon: no id needed to show
  });

  it('tunnel: forwards the real port back to 127.0.0.1 and has daemons dial their own loopback', () => {
    const [line] = sshConfig({ remotes: ['ssh://node1'], tunnel: true }).commands!(spec('tcp://127.0.0.1:40123'), 1);
    // 127.0.0.1 for the remote end too: sshd's "localhost" would count a forward made on ::1 alone.
    expect(line).toContain('-o ExitOnForwardFailure=yes -R 127.0.0.1:40123:127.0.0.1:40123');
    expect(line).toContain(' tcp://127.0.0.1:40123 ');
    const [other] = sshConfig({ remotes: ['ssh://node1'], tunnel: true, tunnelPort: 7000 }).commands!(spec('tls+tcp://127.0.0.1:40123'), 1);
    expect(other).toContain('-R 127.0.0.1:7000:127.0.0.1:40123');
    expect(other).toContain(' tls+tcp://127.0.0.1:7000 ');
  });

  it('tunnel: refuses URLs it cannot forward', () => {
    const launcher = sshConfig({ remotes: ['ssh://node1'], tunnel: true });
    expect(() => launcher.commands!(spec('tcp://10.0.0.1:5555'), 1)).toThrow(/127\.0\.0\.1/);
    expect(() => launcher.commands!(spec('nats://127.0.0.1:4222'), 1)).toThrow(/tcp:\/\/ or tls\+tcp:\/\//);
    expect(() => launcher.commands!(spec('tcp://127.0.0.1:0'), 1)).toThrow(/bound port/);
  });

  it('refuses a local socket and bad options with ConfigErrors naming them', () => {
    expect(() => sshConfig({ remotes: ['ssh://node1'] }).commands!(spec('ipc:///tmp/x.sock'), 1)).toThrow(/local socket/);
    expect(() => sshConfig({ remotes: [] })).toThrow(/remotes/);
    expect(() => sshConfig(undefined as never)).toThrow(ConfigError);
    expect(() => sshConfig({ remotes: ['ssh://n'], timeout: 0 })).toThrow(/timeout/);
    expect(() => sshConfig({ remotes: ['ssh://n'], tunnel: true, tunnelPort: 70_000 })).toThrow(/tunnelPort/);
    expect(() => sshConfig({ remotes: ['ssh://n'], tunnelPort: 7000 })).toThrow(/needs tunnel/);
    expect(() => sshConfig({ remotes: ['ssh://n'], sshOptions: [1 as never] })).toThrow(/sshOptions/);
    expect(() => sshConfig({ remotes: ['ssh://n'], node: '' })).toThrow(/'node'/);
  });

  it('refuses unknown options and values of the wrong type, naming the option, the value and what is expected', () => {
    expect(() => sshConfig({ remotes: ['ssh://n'], tunel: true } as never)).toThrow("sshConfig(): unknown option 'tunel'; did you mean 'tunnel'?");
    // A string is not a boolean: 'false' would have turned the tunnel on.
    expect(() => sshConfig({ remotes: ['ssh://n'], tunnel: 'false' as never })).toThrow("sshConfig(): option 'tunnel' must be a boolean (true or false), got 'false' (a string)");
    expect(() => sshConfig({ remotes: ['ssh://n'], timeout: Infinity })).toThrow(/option 'timeout' must be a number of milliseconds > 0 and ≤ 2147483647, got Infinity/);
    expect(() => sshConfig({ remotes: ['ssh://n'], timeout: '5000' as never })).toThrow(ConfigError);
    expect(() => sshConfig({} as never)).toThrow("sshConfig(): option 'remotes' is required");
    expect(() => sshConfig({ remotes: ['ssh://n'], tunnel: false, tunnelPort: 7000 })).toThrow(/'tunnelPort' needs tunnel: true/);
  });

  it('reports an ssh program that does not exist when the launch runs', async () => {
    const launcher = sshConfig({ remotes: ['ssh://node1'], command: '/nonexistent/ssh' });
    const [handle] = await launcher.launch(spec('tcp://10.0.0.1:5555'), 1);
    const exit = await handle!.exited!;
    expect(exit.code).toBeNull();
    expect(handle!.stderrTail!()).toMatch(/cannot run '\/nonexistent\/ssh'/);
  });
});
