/**
 * Says whether this machine can run fastdllm's CUDA kernels and which libraries it loaded from
 * where (exit 0), or why not (exit 2). The first step of bench/device/check.sh.
 */
import { probeCudaSync } from '../../src/runtime/cuda/device.ts';
import { loadNvrtc } from '../../src/runtime/ffi/nvrtc.ts';
import { loadCudaDriver } from '../../src/runtime/ffi/cuda-driver.ts';
import { CudaContext } from '../../src/runtime/cuda/context.ts';
import { formatBytes } from '../../src/util/format.ts';
import { findNvcc } from '../../src/runtime/cuda/nvcc.ts';

const p = probeCudaSync();
if (!p.ok) {
  console.log(`cuda: not usable: ${p.reason}`);
  process.exit(2);
}
const info = CudaContext.open(0).info;
console.log(`cuda: ${p.reason}`);
console.log(`driver: ${info.driverVersion} from ${loadCudaDriver().path}`);
try {
  const n = loadNvrtc();
  console.log(`nvrtc: ${n.version} from ${n.path}; archs ${n.archs.join(',')}`);
} catch (e) {
  console.log(`nvrtc: not loaded (${(e as Error).message.split('\n')[0]})`);
}
console.log(`nvcc: ${findNvcc()?.version ?? 'none'}`);
console.log(`device: ${info.name}, ${info.arch}, ${info.multiprocessors} SMs, ${formatBytes(info.totalBytes)}, L2 ${formatBytes(info.l2Bytes)}, peak DRAM ~${info.peakBandwidthGBs.toFixed(0)} GB/s (datasheet)`);
