/** Options, validation and job scripts: no scheduler needed. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@mirai-ts/core';
import { clusterConfig, jobScript, lsf, pbs, SCHEDULERS, sge, slurm } from '@mirai-ts/launcher-cluster';

const spec = { url: 'tcp://10.1.2.3:5555', profile: 'default', options: {} };

describe('job scripts', () => {
  it('make one array of n with each scheduler, and set MIRAI_LAUNCH_ID from its variables', () => {
    expect(jobScript(slurm(), 4, spec)).toMatch(/\n#SBATCH --array=1-4\n[^]*MIRAI_LAUNCH_ID="\$\{SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID\}"\nexport MIRAI_LAUNCH_ID\nexec /);
    expect(jobScript(sge(), 4, spec)).toMatch(/\n#\$ -S \/bin\/sh\n[^]*\n#\$ -t 1-4\n[^]*MIRAI_LAUNCH_ID="\$\{JOB_ID\}\.\$\{SGE_TASK_ID\}"/);
    expect(jobScript(pbs(), 4, spec)).toMatch(/\n#PBS -J 1-4\n[^]*MIRAI_LAUNCH_ID="\$\{PBS_JOBID%%\.\*\}"/);
    expect(jobScript(lsf(), 4, spec)).toMatch(/\n#BSUB -J "mirai-default\[1-4\]"\n[^]*MIRAI_LAUNCH_ID="\$\{LSB_JOBID\}\[\$\{LSB_JOBINDEX\}\]"/);
  });

  it('hold the secret file path and the URL, never a secret, and are the same for every element', () => {
    const launcher = slurm({ secretDir: '/shared/home/me/.secrets', cwd: '/shared/project', node: '/opt/node/bin/node' });
    const script = jobScript(launcher, 2, spec);
    expect(script.startsWith('#!/bin/sh\n#SBATCH --job-name=mirai-default\n')).toBe(true);
    expect(script).toContain(`cd /shared/project || exit 1\n`);
    expect(script).toMatch(/\nexec \/opt\/node\/bin\/node .* tcp:\/\/10\.1\.2\.3:5555 --secret-file=\/shared\/home\/me\/\.secrets\/[0-9a-f]{8}-default-[0-9a-f]{8}\.secret\n$/);
    expect(script).not.toMatch(/MIRAI_SECRET/);
  });

  it('put raw options first, indentation stripped, and start several daemons per job in the background', () => {
    const launcher = clusterConfig({
      command: 'sbatch',
      processesPerJob: 3,
      options: `
        #SBATCH --mem=4G
        #SBATCH --job-name=mine
        module load nodejs`,
    });
    const script = jobScript(launcher, 6, spec);
    expect(script).toMatch(/^#!\/bin\/sh\n#SBATCH --mem=4G\n#SBATCH --job-name=mine\n#SBATCH --array=1-2\nmodule load nodejs\nMIRAI_JOB_ELEMENT=/);
    expect(script).toContain('for k in 1 2 3; do\n  MIRAI_LAUNCH_ID="${MIRAI_JOB_ELEMENT}_$k" ');
    expect(script).toMatch(/ &\ndone\nwait\n$/);
  });

  it('translate the typed fields into each scheduler\'s directives', () => {
    const fields = { account: 'proj1', walltime: '1:30:00', cpus: 4, memory: '8G', gpus: 1, logDirectory: '/scratch/logs/' };
    expect(jobScript(slurm({ ...fields, partition: 'gpu', directives: ['--qos=high'], prologue: ['module load cuda'] }), 1, spec)).toContain(
      [
        '#SBATCH --partition=gpu',
        '#SBATCH --account=proj1',
        '#SBATCH --time=01:30:00',
        '#SBATCH --cpus-per-task=4',
        '#SBATCH --mem=8192M',
        '#SBATCH --gres=gpu:1',
        '#SBATCH --output=/scratch/logs/%x-%A_%a.out',
        '#SBATCH --error=/scratch/logs/%x-%A_%a.err',
        '#SBATCH --qos=high',
        '#SBATCH --array=1-1',
        'module load cuda',
      ].join('\n'),
    );
    expect(jobScript(sge({ ...fields, queue: 'all.q', parallelEnvironment: 'mpi' }), 1, spec)).toContain('#$ -q all.q\n#$ -P proj1\n#$ -l h_rt=01:30:00\n#$ -pe mpi 4\n#$ -l h_vmem=8192M\n#$ -l gpu=1\n#$ -o /scratch/logs\n');
    expect(jobScript(pbs(fields), 1, spec)).toContain('#PBS -l select=1:ncpus=4:mem=8192mb:ngpus=1\n');
    expect(jobScript(lsf(fields), 1, spec)).toContain('#BSUB -W 1:30\n#BSUB -n 4\n#BSUB -M 8192MB\n#BSUB -R "rusage[mem=8192MB]"\n#BSUB -gpu "num=1"\n#BSUB -o /scratch/logs/%J_%I.out\n');
  });

  it("give LSF's memory limit a unit: a bare -M number is read in the site's LSF_UNIT_FOR_LIMITS (KB by default)", () => {
    const script = jobScript(lsf({ memory: '4G' }), 2, spec);
    expect(script).toContain('\n#BSUB -M 4096MB\n#BSUB -R "rusage[mem=4096MB]"\n');
    expect(script).not.toMatch(/-M \d+\n|mem=\d+\]/);
  });

  it('submit one PBS element as a plain job: qsub refuses -J 1-1 (a range needs start < end)', () => {
    expect(jobScript(pbs(), 1, spec)).not.toMatch(/#PBS -J/);
    expect(jobScript(pbs(), 1, spec)).toContain('\nMIRAI_LAUNCH_ID="${PBS_JOBID%%.*}"\n');
    expect(jobScript(pbs(), 2, spec)).toContain('\n#PBS -J 1-2\n');
    // Its qsub output is a plain job id: the element is the job, and qdel takes the whole id.
    const plain = SCHEDULERS.pbs.parse('12345.pbs01\n')!;
    expect([plain.cancelId, plain.element(1), plain.cancelElement(1)]).toEqual(['12345.pbs01', '12345', ['12345.pbs01']]);
    const array = SCHEDULERS.pbs.parse('12345[].pbs01\n')!;
    expect([array.cancelId, array.element(3), array.cancelElement(3)]).toEqual(['12345[].pbs01', '12345[3]', ['12345[3].pbs01']]);
  });

  it('keep secret files of different profiles apart, even when their safe forms agree', () => {
    const launcher = slurm({ secretDir: '/shared/secrets' });
    const files = ['gpu:1', 'gpu_1', 'gpu 1', 'default'].map((p) => launcher.secretFile(p));
    expect(new Set(files).size).toBe(4);
    expect(files[0]).toMatch(/^\/shared\/secrets\/[0-9a-f]{8}-gpu_1-[0-9a-f]{8}\.secret$/);
    expect(launcher.secretFile('gpu:1')).toBe(files[0]);
  });

  it('split n beyond arrayMax into several submissions (launchRemote shows every script)', () => {
    const launcher = slurm({ arrayMax: 400 });
    const scripts = launcher.commands!({ ...spec, secret: 'never-shown' }, 1000);
    expect(scripts.map((s) => /--array=(\S+)/.exec(s)![1])).toEqual(['1-400', '1-400', '1-200']);
    expect(scripts.join('')).not.toContain('never-shown');
    expect(() => jobScript(launcher, 401, spec)).toThrow(/one submission holds 1 to arrayMax \(400\) jobs, got 401/);
  });
});

describe('option checks', () => {
  const fails = (make: () => unknown, message: RegExp): void => {
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  };

  it('reject unknown keys, with a hint for near misses', () => {
    fails(() => slurm({ partiton: 'x' } as never), /slurm: unknown option 'partiton' \(did you mean 'partition'\?\)/);
    fails(() => slurm({ queue: 'x' } as never), /unknown option 'queue' \(did you mean 'partition'\?\)/);
    fails(() => sge({ partition: 'x' } as never), /sge: unknown option 'partition' \(did you mean 'queue'\?\)/);
    fails(() => clusterConfig({ command: 'sbatch', option: '' } as never), /clusterConfig: unknown option 'option' \(did you mean 'options'\?\)/);
  });

  it('jobScript() checks its count and spec as daemons() would', () => {
    fails(() => jobScript(slurm(), '4' as never), /n must be a number, got the string '4'/);
    fails(() => jobScript(slurm(), 2.5), /n must be a whole number ≥ 1, got 2.5/);
    fails(() => jobScript(slurm(), 1, { options: { idletime: -5 } }), /spec.options: option 'idletime' must be/);
    fails(() => jobScript(slurm(), 1, { options: { maxtasks: '3' as never } }), /option 'maxtasks' must be a whole number/);
    fails(() => jobScript(slurm(), 1, { url: 'not a url' }), /option 'url' must be a URL such as/);
    fails(() => jobScript(slurm(), 1, { bogus: 1 } as never), /unknown option 'bogus'/);
    fails(() => jobScript({} as never, 1), /launcher must be a cluster launcher such as slurm\(\)/);
  });

  it('name the option, the value and what is expected', () => {
    fails(() => slurm({ cpus: '4' as never }), /slurm: 'cpus' must be a whole number from 1 to 100000, got '4' \(a string: parse it with Number\(\) first\)/);
    fails(() => pbs({ walltime: '90 minutes' }), /pbs: 'walltime' must be 'HH:MM:SS' or a whole number of seconds from 1 to 3153600000 \(100 years\), got '90 minutes'/);
    fails(() => lsf({ memory: '4 gigs' }), /lsf: 'memory' must be like '4G' or '512M', or a whole number of MiB, at most 1 PiB \(1073741824 MiB\), got '4 gigs'/);
    // Typos that would reach a directive in exponent notation (`--cpus-per-task=1e+300`).
    fails(() => slurm({ cpus: 1e300 }), /'cpus' must be a whole number from 1 to 100000, got 1e\+300/);
    fails(() => slurm({ gpus: 1e21 }), /'gpus' must be a whole number from 1 to 100000/);
    fails(() => slurm({ walltime: 1e22 }), /'walltime' must be .* from 1 to 3153600000/);
    fails(() => slurm({ memory: '99999999999999999999999T' }), /'memory' must be .* at most 1 PiB/);
    fails(() => slurm({ arrayMax: 0 }), /'arrayMax' must be a whole number from 1 to 4000000, got 0/);
    fails(() => slurm({ processesPerJob: 1.5 }), /'processesPerJob' must be a whole number from 1 to 1024, got 1.5/);
    fails(() => pbs({ jobName: 'a-much-too-long-name' }), /'jobName' may have at most 15 characters for pbs/);
    fails(() => slurm({ directives: ['--array=1-9'] }), /sets the job array, which the launcher does/);
    fails(() => slurm({ failOnLaunchTimeout: 'yes' as never }), /'failOnLaunchTimeout' must be true or false, got 'yes'/);
  });

  it('bound numbers: a timeout a Node timer can hold (a longer one fires at once), sane array and job sizes', () => {
    fails(() => slurm({ submitTimeout: 2 ** 31 }), /slurm: 'submitTimeout' must be a number of milliseconds > 0 and ≤ 2147483647, got 2147483648/);
    fails(() => sge({ submitTimeout: 0 }), /sge: 'submitTimeout' must be a number of milliseconds > 0 .*, got 0/);
    fails(() => pbs({ submitTimeout: '5000' as never }), /pbs: 'submitTimeout' must be a number of milliseconds .*, got '5000'/);
    fails(() => lsf({ processesPerJob: 100_000 }), /lsf: 'processesPerJob' must be a whole number from 1 to 1024, got 100000/);
    fails(() => slurm({ arrayMax: 2 ** 40 }), /slurm: 'arrayMax' must be a whole number from 1 to 4000000, got 1099511627776/);
    fails(() => clusterConfig({ command: 'sbatch', submitTimeout: Infinity }), /clusterConfig: 'submitTimeout' must be .*, got Infinity/);
    expect(slurm({ submitTimeout: 2 ** 31 - 1, processesPerJob: 1024, arrayMax: 4_000_000 }).arrayMax).toBe(4_000_000);
    // watchInterval: 0 (never) or 100 ms to a timer's limit; a count from process.env is a string.
    fails(() => slurm({ watchInterval: '30000' as never }), /slurm: 'watchInterval' must be 0 \(never\) or a whole number of milliseconds from 100 to 2147483647, got '30000' \(a string: parse it with Number\(\) first\)/);
    fails(() => sge({ watchInterval: 50 }), /sge: 'watchInterval' must be 0 \(never\) or .*, got 50/);
    fails(() => clusterConfig({ command: 'bsub', watchInterval: 2 ** 31 }), /clusterConfig: 'watchInterval' must be .*, got 2147483648/);
    fails(() => pbs({ watchIntervl: 500 } as never), /pbs: unknown option 'watchIntervl' \(did you mean 'watchInterval'\?\)/);
    expect(slurm({ watchInterval: 0 }).kind).toBe('slurm');
    expect(lsf({ watchInterval: 100 }).kind).toBe('lsf');
  });

  it('refuse field values a directive line cannot carry (spaces, quotes, #), naming the option, value and what is allowed', () => {
    fails(() => slurm({ logDirectory: '/home/me/my logs' }), /slurm: 'logDirectory' must hold only letters, digits and _ \. \/ .* no spaces, quotes or '#'\), got '\/home\/me\/my logs'/);
    fails(() => slurm({ partition: 'short --exclusive' }), /slurm: 'partition' must hold only letters, digits and _ \. @ \* , \+ - .*got 'short --exclusive'/);
    fails(() => sge({ account: "x'y" }), /sge: 'account' must hold only .*got 'x'y'/);
    fails(() => pbs({ queue: 'workq#2' }), /pbs: 'queue' must hold only .*got 'workq#2'/);
    fails(() => lsf({ logDirectory: '/tmp/"logs"' }), /lsf: 'logDirectory' must hold only/);
    fails(() => sge({ parallelEnvironment: 'smp 4' }), /sge: 'parallelEnvironment' must hold only .*got 'smp 4'/);
    // What sites do use passes: partition lists, queue@server, paths; free-form directives stay free.
    const script = jobScript(slurm({ partition: 'short,long', account: 'proj-1.a', logDirectory: '/scratch/me/run_1', directives: ['--comment="two words"'] }), 1, spec);
    expect(script).toContain('#SBATCH --partition=short,long\n#SBATCH --account=proj-1.a\n');
    expect(script).toContain('#SBATCH --output=/scratch/me/run_1/%x-%A_%a.out\n');
    expect(script).toContain('#SBATCH --comment="two words"\n');
    expect(jobScript(pbs({ queue: 'workq@pbs01' }), 2, spec)).toContain('#PBS -q workq@pbs01\n');
  });

  it('refuse a builder argument that is not an options object with a ConfigError, not a TypeError', () => {
    for (const [name, make] of Object.entries({ slurm, sge, pbs, lsf })) {
      fails(() => make(null as never), new RegExp(`^${name}: expected an options object, got null`));
      fails(() => make('partition=short' as never), new RegExp(`^${name}: expected an options object, got "partition=short"`));
    }
  });

  it('check raw options: the command, the scheduler, directives the scheduler would ignore', () => {
    fails(() => clusterConfig({ command: 'srun' }), /'command' must be 'sbatch', 'qsub' or 'bsub' \(or a path to one\), got "srun"/);
    fails(() => clusterConfig({ command: 'qsub' }), /qsub is both Grid Engine's and PBS's; say which with scheduler: 'sge' or 'pbs'/);
    fails(() => clusterConfig({ command: 'sbatch', options: '#PBS -q x' }), /'#PBS -q x' is a pbs directive, but this launcher submits to slurm/);
    fails(() => clusterConfig({ command: 'sbatch', options: 'module load x\n#SBATCH --mem=1G' }), /directive '#SBATCH --mem=1G' comes after the command 'module load x', where slurm ignores it/);
    fails(() => clusterConfig({ command: 'qsub', scheduler: 'sge', options: '#$ -t 1-10' }), /sets the job array/);
    expect(clusterConfig({ command: 'qsub', options: ['#$ -q all.q'] }).kind).toBe('sge');
    expect(clusterConfig({ command: '/opt/pbs/bin/qsub', scheduler: 'pbs' }).cancelCommand).toBe('/opt/pbs/bin/qdel');
  });
});
