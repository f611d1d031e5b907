import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * A parent that runs a child through runChild; the child traps SIGTERM,
 * takes 300 ms to "clean up", and exits 130. The test signals the parent
 * alone (not its group), as npm or a CI timeout does.
 */
describe('runChild', () => {
  it('passes SIGTERM on to the child and waits for it before the parent goes on', async () => {
    const child = `process.on('SIGTERM', () => setTimeout(() => { console.log('child cleaned up'); process.exit(130); }, 300)); console.log('child ready'); setInterval(() => {}, 1000);`;
    const parent = [
      `import { runChild, interruptedBy } from ${JSON.stringify(join(import.meta.dirname, 'child.ts'))};`,
      `const code = await runChild(process.execPath, ['-e', ${JSON.stringify(child)}], { cwd: process.cwd() });`,
      `console.log('child exited ' + code + ', interrupted by ' + interruptedBy());`,
    ].join('\n');
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', parent], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('child ready\n') && !p.killed) p.kill('SIGTERM');
    });
    p.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const code = await new Promise((resolve) => p.on('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'child ready\nchild cleaned up\nchild exited 130, interrupted by SIGTERM\n');
    assert.match(stderr, /SIGTERM: waiting for node to stop and remove what it started/);
  });
});
