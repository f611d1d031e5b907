import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { holdScript, pendingHolds } from './start-hold.ts';
import { scratchDir } from '../../testing/scratch-dir.ts';

const ID = 'a'.repeat(64);

/** Runs the hold script with the system's sh in a fresh directory; `answer` plays the daemon. */
function runHold(id: string, timeoutS: number, answer?: (dir: string) => void): Promise<{ code: number; stderr: string; ms: number; dir: string }> {
  const dir = scratchDir('hold');
  const script = join(dir, 'hold');
  writeFileSync(script, holdScript(dir, timeoutS), { mode: 0o755 });
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile('sh', [script, id], (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr), ms: Date.now() - started, dir });
    });
    if (answer) {
      const timer = setInterval(() => {
        if (existsSync(join(dir, `${id}.req`))) {
          clearInterval(timer);
          answer(dir);
        }
      }, 20);
      child.on('exit', () => clearInterval(timer));
    }
  });
}

describe('holdScript', () => {
  describe('when the audit daemon answers', () => {
    it('lets the start go on, and leaves nothing behind', async () => {
      const r = await runHold(ID, 5, (dir) => setTimeout(() => writeFileSync(join(dir, `${ID}.ack`), '{}\n'), 150));
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.ms >= 150, `waited for the answer (${r.ms} ms)`);
      assert.deepEqual(readdirSync(r.dir), ['hold']);
    });
  });
  describe('when no answer comes in time', () => {
    it('refuses the start (fails closed), saying why', async () => {
      const r = await runHold(ID, 1);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /did not set the rules of container a{64} within 1 s; start refused/);
      assert.deepEqual(readdirSync(r.dir), ['hold'], 'the request is withdrawn');
    });
  });
  describe('when the argument is not a container id', () => {
    it('asks nothing and refuses the start', async () => {
      const r = await runHold('../../etc/x', 1);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a container id: \.\.\/\.\.\/etc\/x; start refused/);
      assert.ok(r.ms < 1000);
      assert.deepEqual(readdirSync(r.dir), ['hold']);
    });
  });
  describe('when the request cannot be posted (the directory is gone)', () => {
    it('refuses the start at once instead of letting it run unaudited', async () => {
      const dir = scratchDir('hold');
      const started = Date.now();
      const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile('sh', ['-c', holdScript(join(dir, 'gone'), 5), 'hold', ID], (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) })),
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot post the start hold's request .*gone\/a{64}\.req; start of container a{64} refused/);
      assert.ok(Date.now() - started < 5000, 'did not wait for the timeout');
    });
  });
});

describe('pendingHolds', () => {
  describe('when the directory holds requests, answers and other files', () => {
    it('lists the requested container ids not answered yet', () => {
      const b = 'b'.repeat(64);
      assert.deepEqual(pendingHolds(['hold', `${b}.req`, `${ID}.req`, `${ID}.ack`, 'x.req', `${'c'.repeat(64)}.ack`]), [b]);
    });
  });
});
