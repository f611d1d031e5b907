import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const START = JSON.stringify(join(import.meta.dirname, 'start.ts'));

/**
 * Runs a child that registers the handler with one stand-in lab (its stop
 * prints "stopped"), prints "ready", and waits; sends it SIGINT when ready.
 */
function interruptChild(takeHandlerOff: boolean): ReturnType<typeof interrupt> {
  return interrupt([
    `import { removeLabsOnInterrupt } from ${START};`,
    `const off = removeLabsOnInterrupt((m, failed) => console.error(failed ? 'FAILED ' + m : m), () => [`,
    `  { stop: async () => { await new Promise((r) => setTimeout(r, 50)); console.log('stopped'); } },`,
    `  { stop: async () => { throw new Error('cluster il-x would not go'); } },`,
    `]);`,
    takeHandlerOff ? 'off();' : '',
    `console.log('ready');`,
    `setInterval(() => undefined, 1000);`,
  ]);
}

/**
 * As cucumber-js --parallel runs scenarios: the main thread's handler has no
 * lab of its own; one worker thread has a stand-in lab (its stop writes
 * "stopped in worker" straight to fd 1), a second worker registered and
 * then finished before the interrupt.
 */
function interruptParallelChild(): ReturnType<typeof interrupt> {
  const worker = (lab: boolean) =>
    [
      // Eval code of a worker is a module here: the child runs with --input-type=module.
      `import { parentPort } from 'node:worker_threads';`,
      `import { writeSync } from 'node:fs';`,
      `import { labsBeingRemoved, removeLabsOnInterrupt, startLabNode } from ${START};`,
      `removeLabsOnInterrupt(() => {}, () => ${lab ? `[{ stop: async () => { await new Promise((r) => setTimeout(r, 300)); writeSync(1, 'stopped in worker\\n'); } }]` : '[]'});`,
      `parentPort.postMessage('ready');`,
      // Once interrupted, the worker starts no lab: a start is refused with INTERRUPTED.
      lab
        ? `const poll = setInterval(() => { const removal = labsBeingRemoved(); if (!removal) return; clearInterval(poll); ` +
          `removal.then(() => startLabNode({})).catch((e) => writeSync(1, 'refused ' + e.code + '\\n')); }, 10);`
        : '',
      lab ? `setInterval(() => undefined, 1000);` : '',
    ].join('\n');
  return interrupt([
    `import { removeLabsOnInterrupt } from ${START};`,
    `import { Worker } from 'node:worker_threads';`,
    `removeLabsOnInterrupt((m, failed) => console.error(failed ? 'FAILED ' + m : m));`,
    `const start = (code) => new Promise((resolve) => new Worker(code, { eval: true }).once('message', resolve));`,
    `const finished = new Worker(${JSON.stringify(worker(false))}, { eval: true });`,
    `await new Promise((resolve) => finished.once('exit', resolve));`,
    `await start(${JSON.stringify(worker(true))});`,
    `setTimeout(() => console.log('ready'), 200);`,
    `setInterval(() => undefined, 1000);`,
  ]);
}

function interrupt(lines: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const script = lines.join('\n');
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
  describe('when the labs run in worker threads (cucumber-js --parallel), which get no signals', () => {
    it("has each worker remove its labs, reports for them, and exits only when they are gone", async () => {
      const r = await interruptParallelChild();
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stdout, /^ready\nstopped in worker\nrefused INTERRUPTED\n$/);
      assert.match(r.stderr, /^SIGINT: removing 0 lab node\(s\) and 0 kind cluster\(s\)$/m);
      assert.match(r.stderr, /^worker \d+: SIGINT: removing 0 lab node\(s\) and 1 kind cluster\(s\)$/m);
      assert.match(r.stderr, /^FAILED worker \d+ did not answer \(finished, or stuck\)/m);
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
