import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLabError } from '../../errors.ts';
import { kindNodeAuditId, liveAuditIds, rulesOfAuditIds } from './audit-id.ts';
import { containerKey, labKey, parseRuleList, staleLabs } from './kernel-rules.ts';

const LAB = 'mwrvrvmt-17f105';
const CLUSTER = `il-${LAB}`;
const CID = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';

describe('kindNodeAuditId', () => {
  describe('when the nodes of one kind cluster share the lab id', () => {
    const ids = ['control-plane', 'worker', 'worker2', 'worker10'].map((n) => kindNodeAuditId(LAB, CLUSTER, `${CLUSTER}-${n}`));
    it('gives each node its own id, named after the node', () => {
      assert.deepEqual(ids, [`${LAB}.control-plane`, `${LAB}.worker`, `${LAB}.worker2`, `${LAB}.worker10`]);
    });
    it('never makes one node\'s key prefix a prefix of another node\'s keys, nor of a single-node lab\'s of the same id', () => {
      // auditctl -D -k deletes by prefix: one node's cleanup must not remove its neighbour's rules.
      for (const a of [...ids, LAB]) {
        for (const b of [...ids, LAB]) {
          if (a === b) continue;
          for (const k of [labKey(b), containerKey(b, CID)]) assert.ok(!k.startsWith(labKey(a)), `${labKey(a)} is a prefix of ${k}`);
        }
      }
    });
  });
  describe('when the node name does not start with the cluster name', () => {
    it('uses the whole name', () => {
      assert.equal(kindNodeAuditId(LAB, CLUSTER, 'other'), `${LAB}.other`);
    });
  });
  describe('when the id cannot be a key prefix', () => {
    it('refuses it with AUDIT_CONFIG', () => {
      assert.throws(() => kindNodeAuditId(LAB, CLUSTER, `${CLUSTER}-a:b`), (e) => isLabError(e, 'AUDIT_CONFIG'));
    });
  });
});

describe('liveAuditIds', () => {
  const kindNodes = [
    { cluster: CLUSTER, name: `${CLUSTER}-control-plane` },
    { cluster: CLUSTER, name: `${CLUSTER}-worker` },
    { cluster: 'someone-elses', name: 'someone-elses-control-plane' },
  ];
  const live = liveAuditIds(['single-1'], kindNodes, 'il-');
  describe('when a kind cluster of the lab runs beside a single-node lab', () => {
    it('holds the single lab and every node of the kind lab, and no other kind cluster', () => {
      assert.deepEqual(live, [`${LAB}.control-plane`, `${LAB}.worker`, 'single-1']);
    });
    it('makes the reaper keep a live kind node\'s rules and remove those of a node that is gone', () => {
      const rules = parseRuleList([
        `-a always,exit -F arch=b64 -S setns,mount,move_mount -F key=${labKey(`${LAB}.control-plane`)}`,
        `-a always,exit -F arch=b64 -S execve,execveat -F dir=/r -F key=${containerKey(`${LAB}.worker`, CID)}`,
        `-a always,exit -F arch=b64 -S setns,mount,move_mount -F key=${labKey('gone-1.worker')}`,
        `-a always,exit -F arch=b64 -S setns,mount,move_mount -F key=${labKey('single-1')}`,
      ].join('\n'));
      assert.deepEqual(staleLabs(rules, live), ['gone-1.worker']);
    });
  });
  describe('when the kind lab\'s cluster is deleted', () => {
    it('no longer holds its nodes', () => {
      assert.deepEqual(liveAuditIds(['single-1'], [], 'il-'), ['single-1']);
    });
  });
});

describe('rulesOfAuditIds', () => {
  describe('when rules of several labs are set', () => {
    it('returns those of the given nodes only, whatever the other ids share as text', () => {
      const rules = parseRuleList([
        `-a always,exit -F arch=b64 -S setns -F key=${labKey(`${LAB}.worker`)}`,
        `-a always,exit -F arch=b64 -S setns -F key=${labKey(`${LAB}.worker2`)}`,
        `-a always,exit -F arch=b64 -S setns -F key=${labKey(LAB)}`,
        '-a always,exit -F arch=b64 -S setns -F key=not-ours',
      ].join('\n'));
      assert.deepEqual(rulesOfAuditIds(rules, [`${LAB}.worker`]).map((r) => r.keys[0]), [labKey(`${LAB}.worker`)]);
    });
  });
});
