import { loadNvrtc } from '../ffi/nvrtc.ts';
import { CudaContext } from './context.ts';
import { findNvcc } from './nvcc.ts';

/** Where a model runs. */
export type DeviceName = 'cpu' | 'cuda';

/** The outcome of device selection: the device and, in words, why. */
export interface DeviceChoice {
  device: DeviceName;
  reason: string;
}

/** Whether CUDA is usable here, and why not when it is not. */
export interface CudaProbe {
  ok: boolean;
  reason: string;
  /** The GPU (name, arch) when ok. */
  gpu?: string;
  /** How kernels get compiled: NVRTC (normal) or nvcc (NVRTC missing but nvcc present). */
  compiler?: 'nvrtc' | 'nvcc';
}

let probe: CudaProbe | undefined;

/**
 * Probes, once, whether a CUDA GPU can run generated kernels: libcuda loads, cuInit succeeds, a
 * device exists, and NVRTC loads (or, failing that, nvcc exists). Never throws and never
 * crashes: every failure becomes the reason.
 */
export async function probeCuda(): Promise<CudaProbe> {
  return probeCudaSync();
}

/** Synchronous probe (what `describe.runIf(hasCuda())` needs). */
export function probeCudaSync(): CudaProbe {
  if (probe) return probe;
  try {
    const ctx = CudaContext.open(0);
    let compiler: 'nvrtc' | 'nvcc';
    try {
      loadNvrtc();
      compiler = 'nvrtc';
    } catch (e) {
      if (!findNvcc()) throw new Error(`the driver loads but NVRTC does not, and there is no nvcc either: ${(e as Error).message.split('\n')[0]}`);
      compiler = 'nvcc';
    }
    probe = { ok: true, reason: `${ctx.info.name} (${ctx.info.arch}), driver ${ctx.info.driverVersion}, kernels compiled by ${compiler}`, gpu: `${ctx.info.name} ${ctx.info.arch}`, compiler };
  } catch (e) {
    probe = { ok: false, reason: (e as Error).message.split('\n')[0] };
  }
  return probe;
}

/** True when generated CUDA kernels can run here (see probeCudaSync). */
export function hasCuda(): boolean {
  return probeCudaSync().ok;
}

/**
 * Resolves `--device`: 'cpu' and 'cuda' are taken as asked ('cuda' throws, with the reason, when
 * no usable GPU exists); 'auto' is cuda when the driver and NVRTC load, else cpu, and says why.
 */
export function resolveDevice(requested: 'cpu' | 'cuda' | 'auto'): DeviceChoice {
  if (requested === 'cpu') return { device: 'cpu', reason: 'requested --device cpu' };
  const p = probeCudaSync();
  if (requested === 'cuda') {
    if (!p.ok) throw new Error(`--device cuda: no usable CUDA GPU: ${p.reason}`);
    return { device: 'cuda', reason: `requested --device cuda: ${p.reason}` };
  }
  return p.ok ? { device: 'cuda', reason: `auto: ${p.reason}` } : { device: 'cpu', reason: `auto: no usable CUDA GPU (${p.reason}); running on the CPU` };
}

