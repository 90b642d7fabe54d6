import { debugLog } from '../../env.ts';
import type { CudaContext } from './context.ts';
import type { LoadedKernel } from './launch.ts';

/** Executable graphs kept per executor (least recently used dropped first). */
const MAX_GRAPHS = 64;

/** A kernel whose parameters are set, and its grid. */
export interface Launch { lk: LoadedKernel; grid: number[] }

/**
 * How a CudaExecutor's launches reach the GPU: one by one (timed per kernel when profiling), or
 * captured as CUDA graphs and replayed when the same sequence comes again; and the device time of
 * a whole run between two events.
 */
export class LaunchSequencer {
  /** Per-kernel time of the last profiled run, ms. */
  lastProfile: { name: string; ms: number }[] = [];
  /** Runs that replayed a captured graph / captured a new one (tests and benches read these). */
  readonly graphStats = { replays: 0, captures: 0 };
  /** When set, a run's launches are bracketed by CUDA events; their time is left in lastGpuMs. */
  timeLaunches = false;
  /** Device time of the last run's launches (uploads and downloads excluded), ms; NaN unless timeLaunches. */
  lastGpuMs = NaN;
  private launchEvents: [bigint, bigint] | null = null;
  private events: [bigint, bigint] | null = null;
  private profiling = false;
  /** Launch sequences captured as CUDA graphs, by the sequence's key (see launch). */
  private readonly graphExecs = new Map<string, bigint>();
  private stream: bigint | null = null;

  constructor(private readonly ctx: CudaContext) {}

  /** Starts a run's launches: per-kernel timing when `profile`, the run's start event when timeLaunches. */
  begin(profile: boolean): void {
    this.lastProfile = [];
    this.profiling = profile;
    if (profile && !this.events) this.events = [this.ctx.createEvent(), this.ctx.createEvent()];
    if (this.timeLaunches) {
      this.launchEvents ??= [this.ctx.createEvent(), this.ctx.createEvent()];
      this.ctx.record(this.launchEvents[0], null);
    }
  }

  /** Ends a run's launches (records lastGpuMs when timeLaunches). */
  end(): void {
    if (this.timeLaunches && this.launchEvents) {
      this.ctx.record(this.launchEvents[1], null);
      this.lastGpuMs = this.ctx.elapsed(this.launchEvents[0], this.launchEvents[1]);
    }
  }

  /**
   * Launches a sequence of kernels whose parameters are set. With `replay` (and no per-kernel
   * profiling), a sequence seen before replays its captured graph: its key holds every kernel's
   * name, grid and parameter values, so a replay is exactly the launches it stands for (device
   * buffers are read when it runs, as direct launches would read them).
   */
  launch(seq: Launch[], replay: boolean): void {
    const [ev0, ev1] = this.profiling && this.events ? this.events : [null, null];
    if (!replay || ev0) {
      for (const { lk, grid } of seq) {
        const k = lk.kernel;
        if (ev0) this.ctx.record(ev0, null);
        this.ctx.launch(lk.fn, grid, k.block, 0, lk.params, null, k.name);
        if (ev0 && ev1) {
          this.ctx.record(ev1, null);
          const ms = this.ctx.elapsed(ev0, ev1);
          this.lastProfile.push({ name: k.name, ms });
          debugLog(2, `  ${k.name} grid [${grid}] ${ms.toFixed(3)} ms`);
        }
      }
      return;
    }
    // A blocking stream: the default-stream copies before and after order against it.
    const stream = (this.stream ??= this.ctx.createStream());
    const key = seq.map(({ lk, grid }) => `${lk.kernel.name}[${grid}](${lk.params.key})`).join(';');
    let exec = this.graphExecs.get(key);
    if (exec !== undefined) {
      this.graphExecs.delete(key); // re-insert: most recently used last
      this.graphStats.replays++;
    } else {
      this.ctx.beginCapture(stream);
      try {
        for (const { lk, grid } of seq) this.ctx.launch(lk.fn, grid, lk.kernel.block, 0, lk.params, stream, lk.kernel.name);
      } finally {
        exec = this.ctx.endCapture(stream);
      }
      this.graphStats.captures++;
      if (this.graphExecs.size >= MAX_GRAPHS) {
        const [oldKey, oldExec] = this.graphExecs.entries().next().value!;
        this.graphExecs.delete(oldKey);
        this.ctx.destroyGraph(oldExec);
      }
    }
    this.graphExecs.set(key, exec);
    this.ctx.graphLaunch(exec, stream);
  }

  /** Destroys the captured graphs. */
  dispose(): void {
    for (const exec of this.graphExecs.values()) this.ctx.destroyGraph(exec);
    this.graphExecs.clear();
  }
}
