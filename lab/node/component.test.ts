import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAfterStart, type NodeComponent } from './component.ts';

const component = (name: string, startOrder?: number): NodeComponent => ({
  name,
  ...(startOrder === undefined ? {} : { startOrder }),
  prepare: async () => ({ files: [], containerdPlugins: [] }),
  afterStart: async () => {},
});

describe('runAfterStart', () => {
  it('starts components of one order side by side, and a later order only after all of them finished', async () => {
    const log: string[] = [];
    const delays: Record<string, number> = { gates: 60, audit: 10, watchdog: 0 };
    await runAfterStart([component('gates'), component('watchdog', 1), component('audit')], async (c) => {
      log.push(`start ${c.name}`);
      await sleep(delays[c.name]!);
      log.push(`end ${c.name}`);
    });
    // gates and audit overlap; the watchdog starts after the slower of them ended.
    assert.deepEqual(log, ['start gates', 'start audit', 'end audit', 'end gates', 'start watchdog', 'end watchdog']);
  });

  it('waits for every component of the order to settle before it throws the failure, and starts no later order', async () => {
    const log: string[] = [];
    await assert.rejects(
      runAfterStart([component('gates'), component('audit'), component('watchdog', 1)], async (c) => {
        if (c.name === 'gates') throw new Error('gate daemon did not listen');
        await sleep(30);
        log.push(`end ${c.name}`);
      }),
      /gate daemon did not listen/,
    );
    assert.deepEqual(log, ['end audit']);
  });

  it('skips components without afterStart', async () => {
    const started: string[] = [];
    const { afterStart: _, ...passive } = component('admission');
    await runAfterStart([passive, component('gates')], async (c) => void started.push(c.name));
    assert.deepEqual(started, ['gates']);
  });
});
