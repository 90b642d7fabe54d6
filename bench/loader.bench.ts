/**
 * The GPU loader's host side at a real size (issue 10, item 6): a bf16 checkpoint streamed to
 * the device tensor by tensor, chunk by chunk, never widened to f32 on the host. The device is a
 * NullDevice (uploads checked, counted, dropped), so this runs anywhere and measures only what
 * the host does: peak RSS above the process's idle size, and load time against the time to
 * read the files.
 *   npx tsx bench/loader.bench.ts [--config FILE] [--layers N] [--dir DIR] [--keep]
 * Writes a random bf16 checkpoint of the config (default LLaDA-8B, ~16 GB: check `df -h /tmp`)
 * unless DIR already holds one, times `cat` of its files twice (cold when the page cache could
 * be dropped, else the first read; then warm), loads it in a fresh process (so the idle size and
 * the peak are that load's alone) twice, and deletes the checkpoint unless --keep.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: {
  config: { type: 'string', default: 'test/fixtures/configs/llada-8b-instruct.json' },
  layers: { type: 'string' },
  dir: { type: 'string', default: '/tmp/fastdllm-loader-bench' },
  keep: { type: 'boolean', default: false },
  child: { type: 'boolean', default: false },
} });
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

if (a.child) {
  // One load in this fresh process: idle RSS first, then the load, then the peak (ru_maxrss).
  const { loadCudaModel } = await import('../src/runtime/cuda/model.ts');
  const { NullDevice } = await import('../src/runtime/cuda/null-device.ts');
  const dev = new NullDevice();
  const idle = process.memoryUsage().rss, idlePeak = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const m = await loadCudaModel(a.dir, { context: dev.context, compile: false });
  const ms = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024;
  const st = m.executor.loadStats!;
  process.stdout.write(JSON.stringify({ ms, idle, idlePeak, peak, backend: m.backend, precision: m.precision.reason, uploaded: dev.uploadedBytes, uploads: dev.uploads, hostPeak: st.hostPeakBytes, largestPack: st.largestPackBytes }) + '\n');
  process.exit(0);
}

const t0 = performance.now();
if (!existsSync(join(a.dir, 'config.json'))) {
  let config = a.config;
  if (a.layers) {
    const c = JSON.parse(readFileSync(a.config, 'utf8'));
    for (const k of ['n_layers', 'num_hidden_layers']) if (k in c) c[k] = Number(a.layers);
    config = '/tmp/fastdllm-loader-bench-config.json';
    writeFileSync(config, JSON.stringify(c, null, 2));
  }
  execFileSync('node', ['bin/fastdllm.js', 'random-checkpoint', '--config', config, '--dtype', 'bf16', '--out', a.dir], { stdio: 'inherit' });
  console.log(`written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
const files = readdirSync(a.dir).filter((f) => f.endsWith('.safetensors')).map((f) => join(a.dir, f));
const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
console.log(`${a.dir}: ${files.length} file(s), ${gib(bytes)}`);

/** Drops the page cache when this process may (root); says whether it did. */
const dropCache = () => {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
};
const cat = () => {
  const t = performance.now();
  spawnSync('sh', ['-c', `cat ${files.map((f) => `'${f}'`).join(' ')} > /dev/null`], { stdio: 'inherit' });
  return performance.now() - t;
};
const load = () => {
  const r = spawnSync('npx', ['tsx', 'bench/loader.bench.ts', '--child', '--dir', a.dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`load failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

const dropped = dropCache();
const catCold = cat();
const catWarm = cat();
console.log(`cat: ${dropped ? 'cold (page cache dropped)' : 'first read (page cache not dropped: no permission)'} ${(catCold / 1000).toFixed(2)} s = ${(bytes / catCold / 1e3).toFixed(0)} MB/s; warm ${(catWarm / 1000).toFixed(2)} s = ${(bytes / catWarm / 1e3).toFixed(0)} MB/s`);
const runs: { label: string; r: ReturnType<typeof load> }[] = [];
if (dropCache()) runs.push({ label: 'cold', r: load() });
runs.push({ label: 'warm', r: load() }, { label: 'warm', r: load() });
for (const { label, r } of runs) {
  const base = label === 'cold' ? catCold : catWarm;
  console.log(`load (${label}): ${(r.ms / 1000).toFixed(2)} s = ${(r.ms / base).toFixed(2)}x cat (${label}); peak RSS ${gib(r.peak)} = idle ${gib(r.idle)} + ${gib(r.peak - r.idle)}; `
    + `loader's host buffers at most ${(r.hostPeak / 2 ** 20).toFixed(0)} MiB (largest pack ${(r.largestPack / 2 ** 20).toFixed(0)} MiB); uploaded ${gib(r.uploaded)} in ${r.uploads} copies; ${r.backend} (${r.precision})`);
}
if (!a.keep) {
  rmSync(a.dir, { recursive: true, force: true });
  console.log(`deleted ${a.dir}`);
}
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
