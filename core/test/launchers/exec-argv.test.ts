// Which of the host's Node flags local daemons inherit, and what an explicit execArgv may hold.
import { describe, expect, it } from 'vitest';
import { checkExecArgv, inheritedExecArgv } from '../../src/launchers/local.js';

describe('which host flags are inherited', () => {
  it('keeps loaders and module flags, drops debuggers, eval and memory flags', () => {
    const argv = ['--inspect=9229', '--import', 'tsx', '--eval', 'x', '--enable-source-maps', '--max-old-space-size=100', '-r', './a.cjs', '--loader=ts-node/esm', '--conditions=dev', '--experimental-vm-modules', '--input-type=module'];
    expect(inheritedExecArgv(argv, {})).toEqual(['--import', 'tsx', '--enable-source-maps', '-r', './a.cjs', '--loader', 'ts-node/esm', '--conditions', 'dev', '--experimental-vm-modules']);
  });

  it("leaves out a vitest worker's own flags but keeps the user's", () => {
    const worker = ['--experimental-import-meta-resolve', '--require', '/x/node_modules/vitest/suppress-warnings.cjs', '--conditions', 'source', '--conditions', 'development', '--import', 'tsx'];
    expect(inheritedExecArgv(worker, { VITEST: 'true' })).toEqual(['--import', 'tsx']);
    expect(inheritedExecArgv(worker, {})).toEqual(['--require', '/x/node_modules/vitest/suppress-warnings.cjs', '--conditions', 'source', '--conditions', 'development', '--import', 'tsx']);
  });
});

describe('checkExecArgv', () => {
  it('accepts inherit, none and flag lists; refuses what would stop the daemon', () => {
    expect(checkExecArgv('inherit')).toBeUndefined();
    expect(checkExecArgv('none')).toBeUndefined();
    expect(checkExecArgv([])).toBeUndefined();
    expect(checkExecArgv(['--import', 'tsx', '--conditions=dev'])).toBeUndefined();
    expect(checkExecArgv(['--print', '1'])).toMatch(/without '--print'/);
    expect(checkExecArgv(['--import', 'a\nb'])).toMatch(/an array of node flags/);
    expect(checkExecArgv('--import tsx')).toMatch(/an array of node flags/);
  });
});
