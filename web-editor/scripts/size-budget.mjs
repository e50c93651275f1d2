// Fails the build when the editor's JavaScript, gzipped, grows past the
// budget. 230 KiB: the first build measured 189 KiB (CodeMirror with Python,
// search, lint and autocomplete; the protobuf runtime, the generated client and
// Connect-ES; the views), plus ~20% headroom. Past that a phone on a slow
// link waits seconds before it can type; raise it only on purpose.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const BUDGET = 230 * 1024;
const dir = new URL('../dist/assets/', import.meta.url);
const js = readdirSync(dir).filter((f) => f.endsWith('.js'));
let total = 0;
for (const f of js) {
  const gz = gzipSync(readFileSync(new URL(f, dir)), { level: 9 }).length;
  total += gz;
  console.log(`  ${f}: ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`editor JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
if (total > BUDGET) {
  console.error(`over budget by ${((total - BUDGET) / 1024).toFixed(1)} KiB: make it smaller or raise the budget in scripts/size-budget.mjs with a reason`);
  process.exit(1);
}
