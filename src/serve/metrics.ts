/** A cumulative Prometheus histogram over fixed upper bounds. */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.count++;
    this.sum += v;
    this.bounds.forEach((b, i) => { if (v <= b) this.counts[i]++; });
  }

  /** Prometheus text lines of this histogram under `name`. */
  render(name: string, help: string): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${round(this.sum)}`, `${name}_count ${this.count}`);
    return lines;
  }
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
const MS_BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];

/**
 * What a scheduler reports about its batches. ServeMetrics records it; a pool worker
 * (worker-pool.ts) relays it to the main thread's ServeMetrics, so /metrics is the same either way.
 */
export interface SchedulerMetrics {
  /** One forward of `rows` rows that decided `decided` positions in `ms`; `joined`: its rows were admitted at different times. */
  countStep(rows: number, decided: number, ms: number, joined: boolean): void;
  /** `rows` rows started (or joined a running batch) together. */
  countAdmitted(rows: number): void;
  /** Rows waiting to start, batches decoding, rows in them. */
  setGauges(queued: number, batches: number, rows: number): void;
}

/**
 * The server's counters. Tokens/s is over a sliding window (the last `windowMs`), since a
 * cumulative average hides whether the server is busy now.
 */
export class ServeMetrics implements SchedulerMetrics {
  /** Finished HTTP requests by route and status code. */
  readonly requests = new Map<string, number>();
  readonly ttftMs = new Histogram(MS_BOUNDS);
  readonly stepMs = new Histogram(MS_BOUNDS);
  /** Rows that started (or joined a running batch) together. */
  readonly batchSize = new Histogram([1, 2, 4, 8, 16, 32, 64]);
  /** Rows per forward: the batch-size distribution under continuous batching. */
  readonly forwardRows = new Histogram([1, 2, 4, 8, 16, 32, 64]);
  /** Forwards that carried rows admitted at different times (requests that joined a running batch). */
  joinedForwards = 0;
  nfe = 0;
  /** Canvas positions decided, summed over rows (tokens per forward = this / rowForwards). */
  decided = 0;
  /** Forwards counted once per row they carried. */
  rowForwards = 0;
  completionTokens = 0;
  /** Requests whose client went away before the answer. */
  disconnects = 0;
  queueDepth = 0;
  runningBatches = 0;
  runningRows = 0;
  private recent: { t: number; n: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  countRequest(route: string, status: number): void {
    const k = `route="${route}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  countStep(rows: number, decided: number, ms: number, joined: boolean): void {
    this.nfe++;
    this.rowForwards += rows;
    this.decided += decided;
    this.stepMs.observe(ms);
    this.forwardRows.observe(rows);
    if (joined) this.joinedForwards++;
  }

  countAdmitted(rows: number): void {
    this.batchSize.observe(rows);
  }

  setGauges(queued: number, batches: number, rows: number): void {
    this.queueDepth = queued;
    this.runningBatches = batches;
    this.runningRows = rows;
  }

  countCompletion(tokens: number): void {
    this.completionTokens += tokens;
    const now = performance.now();
    this.recent.push({ t: now, n: tokens });
    this.prune(now); // bounded whether or not /metrics is scraped
  }

  tokensPerSecond(now = performance.now()): number {
    this.prune(now);
    return this.recent.reduce((s, r) => s + r.n, 0) / (this.windowMs / 1000);
  }

  /** Drops completions older than the window. */
  private prune(now: number): void {
    while (this.recent.length && this.recent[0].t < now - this.windowMs) this.recent.shift();
  }

  /** The Prometheus text exposition. */
  render(): string {
    const gauge = (name: string, help: string, v: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${round(v)}`];
    const counter = (name: string, help: string, v: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${round(v)}`];
    const lines = ['# HELP fastdllm_requests_total HTTP requests answered, by route and status', '# TYPE fastdllm_requests_total counter'];
    for (const [k, v] of this.requests) lines.push(`fastdllm_requests_total{${k}} ${v}`);
    lines.push(
      ...gauge('fastdllm_queue_depth', 'requests waiting to start', this.queueDepth),
      ...gauge('fastdllm_running_batches', 'batches decoding now', this.runningBatches),
      ...gauge('fastdllm_running_batch_size', 'rows in the batches decoding now', this.runningRows),
      ...this.batchSize.render('fastdllm_batch_size', 'rows that started or joined a batch together'),
      ...this.forwardRows.render('fastdllm_forward_rows', 'rows per forward'),
      ...counter('fastdllm_joined_forwards_total', 'forwards that carried rows admitted at different times', this.joinedForwards),
      ...this.ttftMs.render('fastdllm_time_to_first_token_ms', 'from request accepted to its first committed text (or its answer)'),
      ...this.stepMs.render('fastdllm_step_latency_ms', 'one forward plus selection of one batch'),
      ...counter('fastdllm_nfe_total', 'model forwards (one per batch step)', this.nfe),
      ...counter('fastdllm_disconnects_total', 'requests whose client went away before the answer', this.disconnects),
      ...counter('fastdllm_completion_tokens_total', 'completion tokens answered', this.completionTokens),
      ...gauge('fastdllm_tokens_per_forward', 'positions decided per row per forward, since start', this.rowForwards ? this.decided / this.rowForwards : 0),
      ...gauge('fastdllm_tokens_per_second', `completion tokens per second over the last ${this.windowMs / 1000} s`, this.tokensPerSecond()),
    );
    return lines.join('\n') + '\n';
  }
}
