import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Exec } from '../exec.ts';
import { criImageIdOf } from './content-store.ts';
import { Refusal } from './refusal.ts';

const answer = (exitCode: number, stdout: string, stderr = ''): Exec => ({ run: async () => ({ exitCode, stdout: Buffer.from(stdout), stderr }) });
const record = (metadata: unknown) =>
  JSON.stringify({ ID: 'c1', Extensions: { 'io.cri-containerd.container.metadata': { value: Buffer.from(JSON.stringify(metadata)).toString('base64') } } });
const k8s = { namespace: 'k8s.io' };

describe('criImageIdOf', () => {
  it("reads the image ID CRI recorded at CreateContainer from the container's metadata extension", async () => {
    const id = `sha256:${'a'.repeat(64)}`;
    assert.equal(await criImageIdOf(answer(0, record({ Version: 'v1', Metadata: { ID: 'c1', ImageRef: id } })), k8s, 'c1'), id);
  });
  it('refuses a container containerd has no record of', async () => {
    await assert.rejects(criImageIdOf(answer(1, '', 'ctr: container "c1" in namespace "k8s.io": not found'), k8s, 'c1'), (e: Error) => e instanceof Refusal && /no containerd record/.test(e.message));
  });
  it('refuses a container not created through CRI (no metadata extension, or no image ID in it)', async () => {
    for (const stdout of [JSON.stringify({ ID: 'c1', Extensions: {} }), record({ Metadata: { ID: 'c1' } }), record({ Metadata: { ImageRef: 'nginx:latest' } })]) {
      await assert.rejects(criImageIdOf(answer(0, stdout), k8s, 'c1'), (e: Error) => e instanceof Refusal && /not created through CRI/.test(e.message), stdout);
    }
  });
  it('refuses a record that is not JSON', async () => {
    await assert.rejects(criImageIdOf(answer(0, 'garbage'), k8s, 'c1'), (e: Error) => e instanceof Refusal && /cannot be read/.test(e.message));
  });
});
