import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globMatch } from './glob.ts';
import { matchesLabelSelector, matchesNamespaceSelector } from './selector.ts';

describe('matchesLabelSelector', () => {
  const labels = { tier: 'prod', team: 'a' };
  describe('when requirements are combined', () => {
    it('ANDs matchLabels and matchExpressions', () => {
      assert.equal(matchesLabelSelector({ matchLabels: { tier: 'prod' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }, labels), true);
      assert.equal(matchesLabelSelector({ matchLabels: { tier: 'prod' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['b'] }] }, labels), false);
    });
  });
  describe('when the key is absent', () => {
    it('matches NotIn and DoesNotExist, not In or Exists', () => {
      assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] }, labels), true);
      assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels), true);
      assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] }, labels), false);
      assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels), false);
    });
  });
  describe('when a label is inherited from Object.prototype', () => {
    it('does not count it as present', () => {
      assert.equal(matchesLabelSelector({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}), false);
    });
  });
});

describe('matchesNamespaceSelector', () => {
  describe('when names are globs', () => {
    it('matches d8-* and excludes by name', () => {
      assert.equal(matchesNamespaceSelector({ matchNames: ['d8-*', 'kube-system'] }, 'd8-system', {}), true);
      assert.equal(matchesNamespaceSelector({ matchNames: ['d8-*'] }, 'xd8-system', {}), false);
      assert.equal(matchesNamespaceSelector({ excludeNames: ['kube-*'] }, 'kube-system', {}), false);
    });
  });
});

describe('globMatch', () => {
  describe('when the glob has regex metacharacters', () => {
    it('treats them literally', () => {
      assert.equal(globMatch('kernel.*', 'kernel.shm_rmid_forced'), true);
      assert.equal(globMatch('kernel.*', 'kernelXshm'), false);
      assert.equal(globMatch('a+b(*)', 'a+b(x)'), true);
    });
  });
});
