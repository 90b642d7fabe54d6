import { loadHostModel } from '/work/main/src/runtime/model.ts';
import { forwardFull } from '/work/main/src/runtime/forward.ts';
const m = await loadHostModel('/work/main/.cache/bench/llada-25m', { backend: 'native' });
const ids = [Array.from({ length: 256 }, (_, i) => (i * 37) % 4000)];
for (let i = 0; i < 5; i++) forwardFull(m, ids);
