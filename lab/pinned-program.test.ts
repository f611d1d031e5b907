import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { holdPinnedProgram, pinnedProgramHolder } from './pinned-program.ts';

const GENUINE = '#!/bin/sh\necho genuine "$@"\n';
const FORGED = '#!/bin/sh\necho forged "$@"\n';
const PIN = createHash('sha256').update(GENUINE).digest('hex');

/** A helper on disk with its genuine bytes. */
function helper() {
  const dir = mkdtempSync(join(tmpdir(), 'pinned-program-'));
  const path = join(dir, 'helper');
  writeFileSync(path, GENUINE, { mode: 0o755 });
  /** Other bytes at the path, as a new file renamed over it. */
  const replace = (text: string) => {
    writeFileSync(`${path}.new`, text, { mode: 0o755 });
    renameSync(`${path}.new`, path);
  };
  return { path, replace, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}
const run = (program: string) => execFileSync(program, ['attach'], { encoding: 'utf8' }).trim();

describe('holdPinnedProgram', () => {
  describe('when the file is the pinned bytes', () => {
    it("runs from this process's descriptor, even after another file is renamed over the path", () => {
      using h = helper();
      const held = holdPinnedProgram(h.path, PIN);
      assert.ok(held.ok);
      assert.match(held.program.execPath, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
      h.replace(FORGED);
      assert.equal(run(held.program.execPath), 'genuine attach');
      held.program.close();
      assert.equal(existsSync(held.program.execPath), false, 'the descriptor is closed');
    });
  });
  describe('when the file is other bytes', () => {
    it('refuses, giving the digest it found', () => {
      using h = helper();
      h.replace(FORGED);
      const held = holdPinnedProgram(h.path, PIN);
      assert.equal(held.ok, false);
      const actual = createHash('sha256').update(FORGED).digest('hex');
      assert.deepEqual(held, { ok: false, reason: `has sha256 ${actual}, pinned ${PIN}`, actual });
    });
  });
  describe('when the file is missing, or the pin is not a digest', () => {
    it('refuses, saying why', () => {
      using h = helper();
      const missing = holdPinnedProgram(`${h.path}.gone`, PIN);
      assert.equal(missing.ok, false);
      assert.match(!missing.ok ? missing.reason : '', /^cannot be opened \(ENOENT/);
      assert.equal(holdPinnedProgram(h.path, 'missing').ok, false);
    });
  });
});

describe('pinnedProgramHolder', () => {
  describe('while the file is unchanged', () => {
    it('hands out the same descriptor without hashing again', () => {
      using h = helper();
      const hold = pinnedProgramHolder(h.path, PIN);
      const first = hold();
      const second = hold();
      assert.ok(first.ok && second.ok);
      assert.equal(second.program, first.program);
    });
  });
  describe('when root edits the file in place, then puts the genuine bytes back as a new file', () => {
    it('refuses while it differs, closing what it held, and holds the new genuine file after', () => {
      using h = helper();
      const hold = pinnedProgramHolder(h.path, PIN);
      const first = hold();
      assert.ok(first.ok);
      writeFileSync(h.path, FORGED.replace('forged', 'forge!'));
      assert.equal(hold().ok, false);
      assert.equal(existsSync(first.program.execPath), false, 'the old descriptor is closed, not kept as a fallback');
      h.replace(GENUINE);
      const again = hold();
      assert.ok(again.ok);
      assert.equal(run(again.program.execPath), 'genuine attach');
      again.program.close();
    });
  });
});
