import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Exec } from '../exec.ts';
import { scratchDir } from '../testing/scratch-dir.ts';
import { compileStatic } from './native.ts';

/** A compiler stand-in that writes its `-o` file after a moment, and counts its runs. */
function fakeGcc() {
  const runs: string[][] = [];
  const exec: Exec = {
    async run(argv) {
      runs.push([...argv]);
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(argv[argv.indexOf('-o') + 1]!, 'built');
      return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
    },
  };
  return { exec, runs };
}

describe('compileStatic', () => {
  describe('when the same source is asked for twice at once (the nodes of one kind cluster)', () => {
    it('builds it once and gives both the same file', async () => {
      const source = join(scratchDir('native'), 'helper.c');
      // Content of its own, so that the cache under .lab/native has no build of it yet.
      writeFileSync(source, `/* ${randomBytes(8).toString('hex')} */\nint main(void) { return 0; }\n`);
      const gcc = fakeGcc();
      const [a, b] = await Promise.all([compileStatic(source, 'test-helper', gcc.exec), compileStatic(source, 'test-helper', gcc.exec)]);
      try {
        assert.equal(a, b);
        assert.equal(gcc.runs.length, 1);
        assert.equal(await compileStatic(source, 'test-helper', gcc.exec), a, 'then from the cache');
        assert.equal(gcc.runs.length, 1);
      } finally {
        rmSync(a, { force: true });
      }
    });
  });

  describe('when a local header the source includes changes', () => {
    it('builds again: the header is part of what the build is cached by', async () => {
      const dir = scratchDir('native-header');
      const source = join(dir, 'tool.c');
      const header = join(dir, 'shared.h');
      writeFileSync(source, `/* ${randomBytes(8).toString('hex')} */\n#include "shared.h"\nint main(void) { return SHARED; }\n`);
      writeFileSync(header, '#define SHARED 0\n');
      const gcc = fakeGcc();
      const first = await compileStatic(source, 'test-tool', gcc.exec);
      writeFileSync(header, '#define SHARED 1\n');
      const second = await compileStatic(source, 'test-tool', gcc.exec);
      try {
        assert.notEqual(second, first);
        assert.equal(gcc.runs.length, 2);
      } finally {
        rmSync(first, { force: true });
        rmSync(second, { force: true });
      }
    });
  });
});
