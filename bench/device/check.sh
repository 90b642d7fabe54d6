#!/usr/bin/env bash
# The CUDA device check (issues 4 and 10). See bench/device/README.md. On your own machine first:
#   PACK_EXCLUDE="node_modules/@swc node_modules/openai node_modules/dependency-cruiser" bash ../shared/device/pack.sh
#   (2026-11-30: .device 40.4 MB (node 24.2 MB, node_modules 16.2 MB) + tracked files 15.3 MB = 55.7 MB of 64 MiB)
# then one device call, carry [".device"], timeout_s 590:
#   source .device/unpack.sh && bash bench/device/check.sh
# No npm ci (no registry there) and no dist/: bin/fastdllm.js runs src/ through the carried tsx.
# Prints the card and driver, runs the GPU tests (kernels vs the CPU reference, golden forward and
# decoding in f32, bf16 at LLaDA-8B width, Fast-dLLM v2 golden cases, the continuous-batching
# engine with joins), times one dual-cache step beside its floors and a PyTorch baseline, and
# prints a summary table last. Every step's time limit is cut to what is left before END (500 s),
# so the summary prints by ~510 s whatever hangs; a step that fails does not stop the next. $OUT
# (the device tool's output folder, else ./.device-out) ends with summary.txt, bench.json,
# tune.json and logs.tar.gz (every log): the tool returns at most 8 files.
set -u -o pipefail
cd "$(dirname "$0")/../.."
# The GPU machine has node only: `npx TOOL` runs node_modules/.bin/TOOL.
mkdir -p .device/shim && printf '#!/usr/bin/env bash\nt="$1"; shift; exec node "node_modules/.bin/$t" "$@"\n' > .device/shim/npx && chmod +x .device/shim/npx && export PATH="$PWD/.device/shim:$PATH"
OUT=${OUT:-$PWD/.device-out}
mkdir -p "$OUT"
export FASTDLLM_CACHE_DIR=${FASTDLLM_CACHE_DIR:-/tmp/fastdllm-kernel-cache}
export NO_COLOR=1 FORCE_COLOR=0
export UV_THREADPOOL_SIZE=16  # NVRTC compiles run on libuv's pool (koffi async): one per core
END=${CHECK_END_S:-500}
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
step() { echo; echo "== $* (at $(elapsed) s)"; }
# limit CAP: CAP seconds, or fewer if END is nearer; prints 0 when under 20 s are left (skip the step).
limit() { local left=$(( END - $(elapsed) )); if [ "$left" -lt 20 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi; }
# run CAP LOG CMD...: CMD under `timeout` (its whole process group), stdout+stderr to $OUT/LOG.
run() {
  local cap; cap=$(limit "$1"); local log=$2; shift 2
  if [ "$cap" -eq 0 ]; then echo "skipped: out of time ($(elapsed) s of $END)" | tee "$OUT/$log"; return 124; fi
  timeout -k 10 "$cap" "$@" > "$OUT/$log" 2>&1; local rc=$?
  echo "exit $rc$([ $rc -eq 124 ] && echo " (timed out after $cap s)")"; return $rc
}
# The summary table prints last; then every log goes into one archive (the tool returns 8 files).
finish() {
  step "summary (check done in $(elapsed) s; \$OUT: summary.txt, bench.json, tune.json, logs.tar.gz)"
  npx tsx bench/device/summary.ts "$OUT"
  (cd "$OUT" && tar -czf logs.tar.gz --exclude=logs.tar.gz -- *.log && rm -f -- *.log)
}

step "card, driver, libraries"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi failed"; node --version; } | tee "$OUT/probe.log"
if ! FASTDLLM_DEBUG=1 timeout 60 npx tsx bench/device/probe.ts 2>&1 | tee -a "$OUT/probe.log"; then
  echo "check: no usable CUDA GPU on this machine (the reason is above); nothing else to run."
  finish
  exit 2
fi

step "kernel tests: every kernel vs the CPU reference (log: vitest-kernels.log)"
run 150 vitest-kernels.log npx vitest run --reporter=verbose test/cuda/gpu-kernels.test.ts
grep -E "✓|×|FAIL|Tests |AssertionError|Error:" "$OUT/vitest-kernels.log" | head -40

step "PyTorch baseline and ceilings (log: torch.log)"
if python3 -c 'import torch; assert torch.cuda.is_available()' > /dev/null 2>&1; then
  PYTHONUNBUFFERED=1 run 90 torch.log python3 bench/device/torch_baseline.py; tail -3 "$OUT/torch.log"
else
  echo "no PyTorch with CUDA here: the floors use datasheet rates" | tee "$OUT/torch.log"
fi

step "dual-cache step timing; whole decodes, host vs device selection (log: bench.log)"
run 180 bench.log npx tsx bench/device/step-bench.ts --out "$OUT/bench.json" --torch "$OUT/torch.log"
tail -12 "$OUT/bench.log"

# The nvcc compile check (test/cuda/codegen.test.ts) runs in CI on every push with the same nvcc:
# not repeated here.
step "golden forward, bf16 at width (log: vitest-rest.log)"
run 150 vitest-rest.log npx vitest run --reporter=verbose test/cuda/gpu-bf16-wide.test.ts test/cuda/gpu-golden.test.ts -t 'forward|bf16'
grep -E "✓|×|FAIL|Tests |AssertionError|bf16 vs f32" "$OUT/vitest-rest.log" | head -40

step "CLI on the GPU: the embedded model, --device cuda f32 / bf16 vs --device cpu (log: cli.log)"
P="Ana has 12 pencils. She buys 5 more. Then she doubles them. How many pencils does Ana have now?"
: > "$OUT/cli.log"
for d in "cpu f32" "cuda f32" "cuda bf16"; do set -- $d
  c=$(limit 60); [ "$c" -eq 0 ] && { echo "$1-$2 skipped: out of time" >> "$OUT/cli.log"; continue; }
  timeout -k 5 "$c" node bin/fastdllm.js generate "$P" --device "$1" --precision "$2" --json 2>&1 | tail -1 | sed "s/^/$1-$2 /" >> "$OUT/cli.log"
done
cut -c1-200 "$OUT/cli.log"
toks() { grep "^$1 " "$OUT/cli.log" | sed "s/^$1 //" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.stringify(JSON.parse(s).tokens))}catch{console.log("none")}})'; }
c=$(toks cpu-f32); g=$(toks cuda-f32)
if [ "$c" != none ] && [ "$c" = "$g" ]; then echo "cli: cuda f32 tokens == cpu tokens" | tee -a "$OUT/cli.log"; else echo "cli: cuda f32 tokens DIFFER from cpu (or a run failed)" | tee -a "$OUT/cli.log"; fi

step "the server on the GPU: the embedded model, 1 / 8 / 32 clients, 96 requests, one round, 45 s at most (log: serve.log; issue 11)"
run 45 serve.log npx tsx bench/serve.bench.ts --device cuda --requests 96 --rounds 1 --max-batch 32
tail -12 "$OUT/serve.log"

step "Fast-dLLM v2 golden cases (every 2nd, f32) and bf16 batches; the batching engine with joins, f32 and bf16 (log: vitest-v2-engine.log)"
FASTDLLM_GOLDEN_EVERY=2 run 100 vitest-v2-engine.log npx vitest run --reporter=verbose test/cuda/gpu-v2.test.ts test/cuda/gpu-engine.test.ts -t 'GPU'
grep -E "✓|×|FAIL|Tests |AssertionError|cases differ" "$OUT/vitest-v2-engine.log" | head -30

step "golden decoding cases in f32, until $(( END - 80 )) s at most (log: vitest-decode.log)"
run $(( END - 80 - $(elapsed) > 60 ? END - 80 - $(elapsed) : 60 )) vitest-decode.log npx vitest run --reporter=verbose test/cuda/gpu-golden.test.ts -t 'decoding'
grep -E "✓|×|FAIL|Tests |cases differ" "$OUT/vitest-decode.log" | head -40

step "golden decoding with CUDA graphs, every 7th case, 90 s at most (log: vitest-graphs.log)"
FASTDLLM_CUDA_GRAPHS=1 FASTDLLM_GOLDEN_EVERY=7 run 90 vitest-graphs.log npx vitest run --reporter=verbose test/cuda/gpu-golden.test.ts -t 'decoding'
grep -E "✓|×|FAIL|Tests |cases differ" "$OUT/vitest-graphs.log" | head -30

if [ "$(limit 150)" -ge 60 ]; then
  step "CUDA GEMM tuning at LLaDA-8B width, 1 layer, default vs split-K tiles, dry run, $(limit 150) s at most (log: tune.log, tune.json)"
  run 150 tune.log bash -c 'node bin/fastdllm.js tune --device cuda --config test/fixtures/configs/llada-8b-instruct.json --layers 1 --reps 5 --space split --json --dry-run > "$1"' _ "$OUT/tune.json"
  tail -3 "$OUT/tune.log"
else
  step "CUDA GEMM tuning skipped: $(( END - $(elapsed) )) s left before $END s"
fi

finish
