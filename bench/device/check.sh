#!/usr/bin/env bash
mkdir -p .device/shim && printf '#!/usr/bin/env bash\nt="$1"; shift; exec node "node_modules/.bin/$t" "$@"\n' > .device/shim/npx && chmod +x .device/shim/npx && export PATH="$PWD/.device/shim:$PATH"
# The CUDA device check (issue 4). On the GPU machine, from the repository root:
#   source .device/unpack.sh && bash bench/device/check.sh
# Prints the card and driver, runs the CUDA tests (kernels vs the CPU reference, golden forward
# and decoding in f32, bf16 at LLaDA-8B width, nvcc compile checks), times one dual-cache step
# beside its floors and a PyTorch baseline, and prints a summary table last. Full logs go to
# $OUT (the device tool's output folder), else ./.device-out. Each step has a time limit so the
# whole stays under ~8 minutes; a step that fails does not stop the next.
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.device-out}
mkdir -p "$OUT"
export FASTDLLM_CACHE_DIR=${FASTDLLM_CACHE_DIR:-/tmp/fastdllm-kernel-cache}
export NO_COLOR=1 FORCE_COLOR=0
export UV_THREADPOOL_SIZE=16  # NVRTC compiles run on libuv's pool (koffi async): one per core
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
step() { echo; echo "== $* (at $(elapsed) s)"; }

step "card, driver, libraries"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi failed"; node --version; } | tee "$OUT/probe.log"
if ! FASTDLLM_DEBUG=1 npx tsx bench/device/probe.ts 2>&1 | tee -a "$OUT/probe.log"; then
  echo "check: no usable CUDA GPU on this machine (the reason is above); nothing else to run."
  exit 2
fi

step "kernel tests: every kernel vs the CPU reference (log: vitest-kernels.log)"
timeout 150 npx vitest run --reporter=verbose test/cuda/gpu-kernels.test.ts > "$OUT/vitest-kernels.log" 2>&1
echo "exit $?"; grep -E "✓|×|FAIL|Tests |AssertionError|Error:" "$OUT/vitest-kernels.log" | head -40

step "PyTorch baseline and ceilings (log: torch.log)"
if python3 -c 'import torch; assert torch.cuda.is_available()' > /dev/null 2>&1; then
  PYTHONUNBUFFERED=1 timeout 90 python3 bench/device/torch_baseline.py > "$OUT/torch.log" 2>&1; echo "exit $?"; tail -3 "$OUT/torch.log"
else
  echo "no PyTorch with CUDA here: the floors use datasheet rates" | tee "$OUT/torch.log"
fi

step "dual-cache step timing; whole decodes, host vs device selection (log: bench.log)"
timeout 180 npx tsx bench/device/step-bench.ts --out "$OUT/bench.json" --torch "$OUT/torch.log" > "$OUT/bench.log" 2>&1
echo "exit $?"; tail -12 "$OUT/bench.log"

step "nvcc compile checks, golden forward, bf16 at width (log: vitest-rest.log)"
timeout 150 npx vitest run --reporter=verbose test/cuda/codegen.test.ts test/cuda/gpu-bf16-wide.test.ts test/cuda/gpu-golden.test.ts -t 'compile|generation|forward|bf16' > "$OUT/vitest-rest.log" 2>&1
echo "exit $?"; grep -E "✓|×|FAIL|Tests |AssertionError|bf16 vs f32" "$OUT/vitest-rest.log" | head -40

step "CLI on the GPU: the embedded model, --device cuda f32 / bf16 vs --device cpu (log: cli.log)"
P="Ana has 12 pencils. She buys 5 more. Then she doubles them. How many pencils does Ana have now?"
{ for d in "cpu f32" "cuda f32" "cuda bf16"; do set -- $d
    timeout 60 node bin/fastdllm.js generate "$P" --device "$1" --precision "$2" --json 2>&1 | tail -1 | sed "s/^/$1-$2 /"
  done; } > "$OUT/cli.log" 2>&1
cat "$OUT/cli.log" | cut -c1-200
c=$(grep '^cpu-f32 ' "$OUT/cli.log" | sed 's/^cpu-f32 //' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.stringify(JSON.parse(s).tokens))}catch{console.log("none")}})')
g=$(grep '^cuda-f32 ' "$OUT/cli.log" | sed 's/^cuda-f32 //' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.stringify(JSON.parse(s).tokens))}catch{console.log("none")}})')
if [ "$c" != none ] && [ "$c" = "$g" ]; then echo "cli: cuda f32 tokens == cpu tokens" | tee -a "$OUT/cli.log"; else echo "cli: cuda f32 tokens DIFFER from cpu (or a run failed)" | tee -a "$OUT/cli.log"; fi

left=$(( 420 - $(elapsed) )); [ "$left" -lt 60 ] && left=60
step "golden decoding cases in f32, ${left} s at most (log: vitest-decode.log)"
timeout "$left" npx vitest run --reporter=verbose test/cuda/gpu-golden.test.ts -t 'decoding' > "$OUT/vitest-decode.log" 2>&1
echo "exit $?"; grep -E "✓|×|FAIL|Tests |cases differ" "$OUT/vitest-decode.log" | head -40

step "golden decoding with CUDA graphs, every 7th case, 90 s at most (log: vitest-graphs.log)"
FASTDLLM_CUDA_GRAPHS=1 FASTDLLM_GOLDEN_EVERY=7 timeout 90 npx vitest run --reporter=verbose test/cuda/gpu-golden.test.ts -t 'decoding' > "$OUT/vitest-graphs.log" 2>&1
echo "exit $?"; grep -E "✓|×|FAIL|Tests |cases differ" "$OUT/vitest-graphs.log" | head -30

left=$(( 520 - $(elapsed) )); [ "$left" -gt 150 ] && left=150
if [ "$left" -ge 60 ]; then
  step "CUDA GEMM tuning at LLaDA-8B width, 1 layer, default vs split-K tiles, dry run, ${left} s at most (log: tune.json)"
  timeout "$left" node bin/fastdllm.js tune --device cuda --config test/fixtures/configs/llada-8b-instruct.json --layers 1 --reps 5 --space split --json --dry-run > "$OUT/tune.json" 2> "$OUT/tune.log"
  echo "exit $?"; tail -3 "$OUT/tune.log"
else
  echo; echo "== CUDA GEMM tuning skipped: ${left} s left of the budget"
fi

step "summary"
npx tsx bench/device/summary.ts "$OUT"
