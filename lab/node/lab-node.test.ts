import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { localExec } from '../exec.ts';
import { getProfile, loadCatalog } from '../spec/loader.ts';
import { LabNode, STATE_ROOT } from './index.ts';
import type { NodeComponent } from './component.ts';

// Needs the Docker engine and the node image, as the end-to-end scenarios do
// (LabNode.start ensures both).
describe('LabNode.start', () => {
  describe('when a component fails to prepare after the lab PKI was made', () => {
    it('removes the state directory (with its private keys) and the volume', async () => {
      const catalog = await loadCatalog(join(import.meta.dirname, '../../scenarios'));
      const labId = `test-${Date.now().toString(36)}`;
      let pkiSeen = false;
      const broken: NodeComponent = {
        name: 'broken',
        async prepare(ctx) {
          pkiSeen = existsSync(join(ctx.stateDir, 'pki'));
          throw new Error('component preparation failed on purpose');
        },
      };
      await assert.rejects(new LabNode(getProfile(catalog, 'vanilla')).withLabId(labId).withComponents([broken]).start(), /failed on purpose/);
      assert.ok(pkiSeen, 'the lab PKI existed while the component prepared');
      assert.equal(existsSync(join(STATE_ROOT, labId)), false, 'state directory left behind');
      const volumes = (await localExec.run(['docker', 'volume', 'ls', '-q', '--filter', `name=integrity-lab-${labId}`])).stdout.toString().trim();
      assert.equal(volumes, '', 'volume left behind');
    });
  });
});
