import { defineConfig } from 'vitest/config';

// Built once into dist/, which the control plane embeds (http/editor.rs):
// hashed names under assets/, no inline script (the page's CSP has none).
export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    // scripts/size-budget.mjs holds the real (gzipped) budget.
    chunkSizeWarningLimit: 1024,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
