import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreatedTasks } from './created-tasks.ts';

describe('CreatedTasks', () => {
  const task = (ns: string) => ({ recorded: { annotations: { 'io.kubernetes.cri.sandbox-namespace': ns } } });
  it('gives what a create noted to one start only', () => {
    const t = new CreatedTasks();
    t.note('a', task('kube-system'));
    assert.deepEqual(t.take('a'), task('kube-system'));
    assert.equal(t.take('a'), undefined);
  });
  it('keeps the latest create of an id', () => {
    const t = new CreatedTasks();
    t.note('a', task('one'));
    t.note('a', task('two'));
    assert.deepEqual(t.take('a'), task('two'));
  });
  it('forgets the oldest creates never started beyond its limit', () => {
    const t = new CreatedTasks(2);
    t.note('a', task('a'));
    t.note('b', task('b'));
    t.note('c', task('c'));
    assert.equal(t.take('a'), undefined);
    assert.ok(t.take('b') && t.take('c'));
  });
});
