/**
 * Run as its own process (`node --import tsx`): one native forward of a fixture model, then
 * prints {"threads": the process's OS thread count, "logits": sha256 of the logits}. The
 * environment under test (FASTDLLM_THREADS) is the process's own, read once at start.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { forwardFull, loadModel } from '../../src/index.ts';

const model = await loadModel(process.argv[2], { device: 'cpu' });
// 256 tokens: the GEMMs must be large enough to run in parallel (the CPU GEMM runs one under
// 2^21 multiply-adds on the calling thread, where waking OpenMP's workers costs more than it saves).
const ids = [Array.from({ length: 256 }, (_, i) => (i * 7 + 3) % 200)];
const out = forwardFull(model.host, ids);
const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
process.stdout.write(JSON.stringify({ threads, logits: createHash('sha256').update(new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength)).digest('hex') }) + '\n');
