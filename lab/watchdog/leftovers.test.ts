import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findHolders, planRelease } from './leftovers.ts';
import { parseMountinfo } from './mountinfo.ts';
import type { NodeView } from './proc.ts';
import { sampleText } from './test-samples.ts';

describe('planRelease', () => {
  describe('when a namespace holds stacked mounts, one even over /', () => {
    const entries = parseMountinfo(sampleText('integrity', 'system-agent.attacked.mountinfo'));
    const plan = planRelease(entries);
    it('detaches every mount but the namespace root', () => {
      assert.equal(plan.length, entries.length - 1);
      assert.equal(plan.filter((p) => p === '/').length, 1);
    });
    it('detaches the most recent first, so nothing is hidden when its turn comes', () => {
      // Captured after: bind over run.sh, clone over config, tmpfs over /etc, node dir over /opt/agent, bind over / (ids 292, 293, 294, 375, 361).
      assert.deepEqual(plan.slice(0, 5), ['/', '/opt/agent', '/etc', '/opt/agent/config', '/opt/agent/run.sh']);
    });
  });
});

describe('findHolders', () => {
  describe('when a process, a descriptor and a bind mount hold the namespace', () => {
    it('finds all three, and not the watchdog itself', () => {
      const ns = 'mnt:[4026532329]';
      const view = {
        pids: () => [1, 42, 77, 99],
        mntNs: (pid: number) => (pid === 42 || pid === 99 ? ns : 'mnt:[4026531841]'),
        fdNamespaces: (pid: number) => new Map(pid === 77 ? [['/proc/77/fd/5', ns]] : []),
      } as unknown as NodeView;
      const node = parseMountinfo(`900 72 0:4 ${ns} /run/held rw - nsfs nsfs rw`);
      assert.deepEqual(findHolders(ns, view, node, 99), [
        { kind: 'process', path: '/proc/42/ns/mnt', pid: 42 },
        { kind: 'descriptor', path: '/proc/77/fd/5', pid: 77 },
        { kind: 'bind-mount', path: '/run/held' },
      ]);
    });
  });
});
