import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkNodeRuntime, ensureDockerEngine } from './preflight.ts';
import { isLabError } from '../errors.ts';
import type { Exec } from '../exec.ts';

const noEngine: Exec = { run: async () => ({ exitCode: 1, stdout: Buffer.from(''), stderr: 'Cannot connect to the Docker daemon' }) };
const engine: Exec = { run: async () => ({ exitCode: 0, stdout: Buffer.from('20.10.24\n'), stderr: '' }) };

describe('ensureDockerEngine', () => {
  describe('when an engine answers', () => {
    it('uses it and installs nothing', async () => {
      assert.deepEqual(await ensureDockerEngine(undefined, engine, { isRoot: false, hasApt: false, hasDockerd: false }), {
        serverVersion: '20.10.24',
        startedByUs: false,
      });
    });
  });
  describe('when no engine answers and the process is not root', () => {
    it('fails with ENGINE_MISSING saying what to do', async () => {
      await assert.rejects(ensureDockerEngine(undefined, noEngine, { isRoot: false, hasApt: true, hasDockerd: false }), (e) =>
        isLabError(e, 'ENGINE_MISSING') && /Run as root/.test(e.message) && /DOCKER_HOST/.test(e.message),
      );
    });
  });
  describe('when no engine answers and there is no apt and no dockerd', () => {
    it('fails with ENGINE_MISSING naming the missing installer', async () => {
      await assert.rejects(ensureDockerEngine(undefined, noEngine, { isRoot: true, hasApt: false, hasDockerd: false }), (e) =>
        isLabError(e, 'ENGINE_MISSING') && /no apt-get/.test(e.message),
      );
    });
  });
});

describe('checkNodeRuntime', () => {
  describe('when Node is older than 22', () => {
    it('fails with NODE_RUNTIME_TOO_OLD pointing at npm', () => {
      assert.throws(() => checkNodeRuntime('20.20.2'), (e) => isLabError(e, 'NODE_RUNTIME_TOO_OLD') && /npm run conformance/.test(e.message));
    });
  });
  it('accepts Node 24', () => {
    checkNodeRuntime('24.9.0');
  });
});
