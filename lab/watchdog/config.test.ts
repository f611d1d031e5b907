import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULTS, modeFor, parseWatchdogConfig, resolveConfig } from './config.ts';

const good = () => JSON.parse(JSON.stringify(resolveConfig({ namespaces: [{ match: 'kube-system', mode: 'detect' }] }))) as Record<string, unknown>;

describe('resolveConfig', () => {
  describe('when the profile gives only the namespaces', () => {
    it('fills every other setting with the defaults', () => {
      const c = resolveConfig({ namespaces: [{ match: 'kube-system', mode: 'detect' }] });
      assert.equal(c.notify, DEFAULTS.notify);
      assert.deepEqual(c.reverify, DEFAULTS.reverify);
      assert.equal(c.alertLog, '/var/log/integrity-lab/watchdog-alerts.jsonl');
    });
  });
  describe('when the profile overrides part of the budget', () => {
    it('keeps the other budget fields', () => {
      const c = resolveConfig({ namespaces: [{ match: 'x', mode: 'enforce' }], reverify: { maxReadMBps: 8 } });
      assert.deepEqual(c.reverify, { ...DEFAULTS.reverify, maxReadMBps: 8 });
    });
  });
});

describe('parseWatchdogConfig', () => {
  // One bad input per rule; each must be named in the message.
  const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    ['no namespaces', (c) => (c.namespaces = []), /namespaces: expected a non-empty list/],
    ['a namespace without a match', (c) => (c.namespaces = [{ mode: 'detect' }]), /namespaces\[0\]\.match/],
    ['an unknown mode', (c) => (c.namespaces = [{ match: 'a', mode: 'block' }]), /namespaces\[0\]\.mode: expected detect or enforce, got "block"/],
    ['an unknown notify', (c) => (c.notify = 'inotify'), /notify: expected auto, fanotify or poll, got "inotify"/],
    ['a poll interval too short', (c) => (c.pollIntervalMs = 10), /pollIntervalMs: expected an integer from 50/],
    ['a fractional full-scan interval', (c) => (c.fullScanIntervalMs = 1000.5), /fullScanIntervalMs/],
    ['no discovery interval', (c) => delete c.discoveryIntervalMs, /discoveryIntervalMs/],
    ['no re-verification budget', (c) => delete c.reverify, /reverify: expected/],
    ['a re-verification period under a second', (c) => ((c.reverify as Record<string, unknown>).minIntervalMs = 10), /reverify\.minIntervalMs/],
    ['no parallel verification', (c) => ((c.reverify as Record<string, unknown>).maxParallel = 0), /reverify\.maxParallel/],
    ['a zero read budget', (c) => ((c.reverify as Record<string, unknown>).maxReadMBps = 0), /reverify\.maxReadMBps/],
    ['releaseLeftovers as a string', (c) => (c.releaseLeftovers = 'yes'), /releaseLeftovers/],
    ['an unknown signature format', (c) => (c.allowedFormats = ['v3']), /allowedFormats/],
    ['a relative alert log', (c) => (c.alertLog = 'alerts.jsonl'), /alertLog: expected an absolute path/],
    ['no containerd address', (c) => (c.containerd = { namespace: 'k8s.io' }), /containerd: expected/],
  ];
  for (const [what, mutate, message] of cases) {
    describe(`when the file has ${what}`, () => {
      it('throws WATCHDOG_CONFIG_INVALID naming the field and the value', () => {
        const c = good();
        mutate(c);
        assert.throws(() => parseWatchdogConfig(JSON.stringify(c), 'watchdog.json'), { code: 'WATCHDOG_CONFIG_INVALID', message });
      });
    });
  }
  describe('when the file is not JSON or not an object', () => {
    it('throws WATCHDOG_CONFIG_INVALID', () => {
      assert.throws(() => parseWatchdogConfig('{', 'w.json'), { code: 'WATCHDOG_CONFIG_INVALID', message: /w\.json: not JSON/ });
      assert.throws(() => parseWatchdogConfig('[]', 'w.json'), { code: 'WATCHDOG_CONFIG_INVALID', message: /expected an object/ });
    });
  });
  describe('when the file is complete', () => {
    it('returns it', () => assert.equal(parseWatchdogConfig(JSON.stringify(good())).namespaces[0]!.match, 'kube-system'));
  });
});

describe('modeFor', () => {
  describe('when several entries match', () => {
    it('takes the first, and leaves unmatched namespaces unwatched', () => {
      const c = { namespaces: [{ match: 'd8-system', mode: 'detect' as const }, { match: 'd8-*', mode: 'enforce' as const }] };
      assert.equal(modeFor(c, 'd8-system'), 'detect');
      assert.equal(modeFor(c, 'd8-monitoring'), 'enforce');
      assert.equal(modeFor(c, 'apps'), undefined);
    });
  });
});
