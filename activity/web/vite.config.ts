import { defineConfig } from 'vite';

// Built into dist/, which the Activity server serves at its root (the Activity's root URL mapping).
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  test: { include: ['tests/**/*.test.ts'] },
});
