import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * Runs a child that registers the handler with one stand-in lab (its stop
 * prints "stopped"), prints "ready", and waits; sends it SIGINT when ready.
 */
function interruptChild(takeHandlerOff: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const script = [
    `import { removeLabsOnInterrupt } from ${JSON.stringify(join(import.meta.dirname, 'start.ts'))};`,
    `const off = removeLabsOnInterrupt((m, failed) => console.error(failed ? 'FAILED ' + m : m), () => [`,
    `  { stop: async () => { await new Promise((r) => setTimeout(r, 50)); console.log('stopped'); } },`,
    `  { stop: async () => { throw new Error('cluster il-x would not go'); } },`,
    `]);`,
    takeHandlerOff ? 'off();' : '',
    `console.log('ready');`,
    `setInterval(() => undefined, 1000);`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('ready\n')) child.kill('SIGINT');
  });
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe('removeLabsOnInterrupt', () => {
  describe('when the process gets SIGINT', () => {
    it('stops every lab it knows of, reports the failures and exits with 130', async () => {
      const r = await interruptChild(false);
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stdout, /^ready\nstopped\n$/);
      assert.match(r.stderr, /SIGINT: removing 0 lab node\(s\) and 2 kind cluster\(s\)/);
      assert.match(r.stderr, /FAILED cleanup failed: cluster il-x would not go/);
    });
  });
  describe('when the handler was taken off (a finished `lab up` keeps its lab)', () => {
    it('leaves the signal to its default: nothing is stopped', async () => {
      const r = await interruptChild(true);
      assert.equal(r.signal, 'SIGINT');
      assert.doesNotMatch(r.stdout, /stopped/);
    });
  });
});
