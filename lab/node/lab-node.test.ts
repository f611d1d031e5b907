import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { localExec } from '../exec.ts';
import { getProfile, loadCatalog } from '../spec/loader.ts';
import { LabNode, nodeLogsOf, STATE_ROOT } from './index.ts';
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
  describe('when a component fails after the node started', () => {
    it("keeps the node's logs with the error, read before the node was removed", async () => {
      const catalog = await loadCatalog(join(import.meta.dirname, '../../scenarios'));
      const labId = `test-${Date.now().toString(36)}`;
      const broken: NodeComponent = {
        name: 'broken',
        async prepare() {
          return { files: [], containerdPlugins: [] };
        },
        async afterStart(node) {
          await node.exec.run(['sh', '-c', 'echo "broken: cannot bind /run/broken.sock" >> /var/log/integrity-lab/broken.log']);
          throw new Error('component start failed on purpose');
        },
      };
      const err = await new LabNode(getProfile(catalog, 'vanilla')).withLabId(labId).withComponents([broken]).start().then(
        () => assert.fail('the lab started'),
        (e: unknown) => e,
      );
      assert.match(String(err), /failed on purpose/);
      const logs = nodeLogsOf(err) ?? '';
      assert.match(logs, /==> \/var\/log\/integrity-lab\/broken\.log <==\nbroken: cannot bind \/run\/broken\.sock/);
      assert.match(logs, /==> \/var\/log\/integrity-lab\/containerd\.log <==/);
      assert.equal(existsSync(join(STATE_ROOT, labId)), false, 'state directory left behind');
      assert.equal((await localExec.run(['docker', 'ps', '-aq', '--filter', `name=integrity-lab-${labId}`])).stdout.toString().trim(), '', 'node container left behind');
      assert.equal(nodeLogsOf(new Error('another')), undefined);
    });
  });
});
