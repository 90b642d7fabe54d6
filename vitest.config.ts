import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A temporary kernel cache unless FASTDLLM_CACHE_DIR is set: tests never write to ~/.cache.
    globalSetup: ['test/setup/kernel-cache.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: one worker per core; native kernels use their own threads sparingly.
    pool: 'forks',
    maxWorkers: 2,
  },
});
