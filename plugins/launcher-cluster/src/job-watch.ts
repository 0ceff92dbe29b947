/**
 * Watching batch jobs whose daemons have not connected yet. A job can end where it ran before
 * its daemon dials in (a node without Node, a broken prologue, a walltime or memory kill, a
 * node failure); the host cannot see that process, so without this its launch would count as
 * "on its way" forever and tasks would wait for a daemon that never comes. Each submission
 * with such jobs is listed (one list command) 5 s after submitting, then at doubling gaps up
 * to the launcher's `watchInterval`; an element the scheduler no longer lists (after it was
 * listed once, or in two listings in a row) is lost, and
 * the `lost` promise of its handles resolves with what was seen; so is one the scheduler holds
 * in an error state it will not leave by itself (Grid Engine's `Eqw`), which is withdrawn.
 * Elements leave the watch when all their daemons have connected, or when the launcher
 * cancels them.
 */
import type { LaunchHandle } from '@mirai-ts/core';
import type { ListedJob, Submitted } from './schedulers.js';
import type { ListRuns } from './submit.js';

/**
 * The gap between a submission and its first listing (less if the interval is shorter): a job
 * that cannot start its daemon is found within seconds, and a launch whose daemons connect
 * at once costs no list command.
 */
const FIRST_GAP_MS = 5_000;

/**
 * Listings in a row that must leave out an element never seen listed before it is lost: some
 * schedulers answer from a cache for a few seconds after a submission (LSF's query daemons,
 * `MBD_REFRESH_TIME`), where a new job may be "not found".
 */
const UNSEEN_LISTINGS = 2;

interface WatchedElement {
  /** The element's launch id (`12345_3`). */
  readonly id: string;
  /** Its daemons that have not connected. */
  waiting: number;
  /** The scheduler's state code when it was last listed. */
  state: string | undefined;
  /** Listings in a row that left it out. */
  missing: number;
  readonly lost: Promise<string>;
  readonly lose: (why: string) => void;
  /** Told how many daemons were lost with it. */
  readonly onLost: (daemons: number) => void;
}

interface WatchedSubmission {
  readonly elements: Map<number, WatchedElement>;
  /** The gap before the next listing (ms), doubling up to the interval. */
  gap: number;
  /** When it is next listed (ms since the epoch). */
  due: number;
}

/** What a watched element adds to each of its handles. */
export type WatchedHandle = Pick<LaunchHandle, 'lost' | 'connected'>;

export class JobWatch {
  private readonly watched = new Map<Submitted, WatchedSubmission>();
  private timer: NodeJS.Timeout | undefined;
  private listing = false;

  /**
   * @param interval the longest gap between two listings of a submission (ms); 0: no watching.
   * @param list one submission's elements as the scheduler lists them; undefined when the list
   *   command failed (the scheduler is asked again later, nothing is declared lost). `runs`
   *   is the pass's: a command that lists every submission at once runs once per pass.
   * @param stuck why a listed job will not leave the queue by itself (see Scheduler.list.stuck),
   *   or undefined: such an element is lost too, and withdrawn with `withdraw`.
   */
  constructor(
    private readonly scheduler: string,
    private readonly listCommand: string,
    private readonly interval: number,
    private readonly list: (submitted: Submitted, runs: ListRuns) => Promise<ListedJob[] | undefined>,
    private readonly stuck: (job: ListedJob) => string | undefined,
    private readonly withdraw: (submitted: Submitted, index: number) => void,
  ) {}

  /**
   * Watches element `index` of `submitted` (launch id `id`, running `daemons` daemons);
   * returns what each of its handles carries: `lost`, and `connected()` (to be called once per
   * handle). If the element is lost, `onLost` is told how many of its daemons had not connected.
   * Without watching (interval 0), nothing.
   */
  add(submitted: Submitted, index: number, id: string, daemons: number, onLost: (daemons: number) => void): { handle(): WatchedHandle } {
    if (this.interval === 0) return { handle: () => ({}) };
    let submission = this.watched.get(submitted);
    if (submission === undefined) {
      const gap = Math.min(FIRST_GAP_MS, this.interval);
      submission = { elements: new Map(), gap, due: Date.now() + gap };
      this.watched.set(submitted, submission);
    }
    let lose!: (why: string) => void;
    const lost = new Promise<string>((resolve) => (lose = resolve));
    const element: WatchedElement = { id, waiting: daemons, state: undefined, missing: 0, lost, lose, onLost };
    submission.elements.set(index, element);
    this.arm();
    return {
      handle: () => {
        let told = false;
        return {
          lost,
          connected: () => {
            if (told) return;
            told = true;
            element.waiting--;
            if (element.waiting === 0 && this.watched.get(submitted)?.elements.get(index) === element) this.forget(submitted, index);
          },
        };
      },
    };
  }

  /** Stops watching a submission, or one element of it (it is being cancelled: not lost). */
  forget(submitted: Submitted, index?: number): void {
    const submission = this.watched.get(submitted);
    if (submission === undefined) return;
    if (index !== undefined) submission.elements.delete(index);
    if (index === undefined || submission.elements.size === 0) this.watched.delete(submitted);
    if (this.watched.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Sets the timer for the next submission due, unless a listing is under way (it arms after). */
  private arm(): void {
    if (this.listing || this.watched.size === 0) return;
    let due = Infinity;
    for (const s of this.watched.values()) due = Math.min(due, s.due);
    clearTimeout(this.timer);
    // Watching alone does not keep the process alive: a task waiting for these daemons does.
    this.timer = setTimeout(() => void this.listDue(), Math.max(0, due - Date.now()));
    this.timer.unref();
  }

  /** Lists each submission that is due, one after another, and declares what has gone lost. */
  private async listDue(): Promise<void> {
    this.timer = undefined;
    this.listing = true;
    try {
      const runs: ListRuns = new Map();
      for (const [submitted, submission] of [...this.watched]) {
        if (submission.due > Date.now() || this.watched.get(submitted) !== submission) continue;
        // Run from a timer: a throw (output a parser did not expect) counts as a failed listing.
        const jobs = await this.list(submitted, runs).catch(() => undefined);
        submission.gap = Math.min(submission.gap * 2, this.interval);
        submission.due = Date.now() + submission.gap;
        if (jobs !== undefined) this.compare(submitted, submission, jobs);
      }
    } finally {
      this.listing = false;
      this.arm();
    }
  }

  /** Elements still watched that `jobs` does not hold have ended before their daemons connected. */
  private compare(submitted: Submitted, submission: WatchedSubmission, jobs: readonly ListedJob[]): void {
    const listed = new Map(jobs.map((j) => [j.job, j]));
    for (const [index, element] of [...submission.elements]) {
      // Connected or cancelled while the list command ran: no longer ours to judge.
      if (this.watched.get(submitted)?.elements.get(index) !== element) continue;
      const job = listed.get(element.id);
      const stuck = job === undefined ? undefined : this.stuck(job);
      if (job !== undefined && stuck === undefined) {
        element.state = job.state;
        element.missing = 0;
        continue;
      }
      if (job === undefined && element.state === undefined && ++element.missing < UNSEEN_LISTINGS) continue;
      this.forget(submitted, index);
      if (stuck !== undefined) this.withdraw(submitted, index);
      const seen = element.state === undefined ? '' : `; it was last listed as ${element.state}`;
      element.lose(
        stuck !== undefined
          ? `${this.scheduler} job ${element.id} ${stuck} and would wait in the queue forever (the scheduler's job details say why); it was withdrawn`
          : `${this.scheduler} job ${element.id} ended before its daemon connected (${this.listCommand} no longer lists it${seen}); ` +
              `the job's output says why (logDirectory keeps it)`,
      );
      try {
        element.onLost(element.waiting);
      } catch (err) {
        // Called from a timer: a throw here (a secret file that cannot be removed) would end the host.
        process.stderr.write(`[mirai-ts] ${this.scheduler}: after job ${element.id} was lost: ${(err as Error).message}\n`);
      }
    }
  }
}
