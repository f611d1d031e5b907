import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedDefences, configToRun, defenceFiles, fingerprint, parsePins, pinnedDefenceFiles, takePins, ungatedReason } from './defences.ts';
import { modeFor, parseWatchdogConfig, resolveConfig } from './config.ts';
import { sample } from './test-samples.ts';

describe('ungatedReason', () => {
  describe('when the root is the start gate\'s (integrity sample)', () => {
    it('finds nothing', () => {
      assert.equal(ungatedReason(sample('integrity', 'system-agent').expectation.rootfs), undefined);
    });
  });
  describe("when the root is containerd's own, with its writable upperdir (vanilla sample)", () => {
    it('names both faults', () => {
      const r = ungatedReason(sample('vanilla', 'system-agent').expectation.rootfs)!;
      assert.deepEqual(r.reasons, ['ungated', 'writable-upperdir']);
      assert.match(r.reason, /upperdir .*snapshots\/\d+\/fs/);
    });
  });
});

describe('changedDefences', () => {
  const files = [{ path: '/a', what: 'A' }, { path: '/b', what: 'B' }];
  describe('when a file is edited and another stays missing', () => {
    it('reports the edit only', () => {
      const pinned = fingerprint((p) => (p === '/a' ? Buffer.from('one') : undefined), files);
      const now = fingerprint((p) => (p === '/a' ? Buffer.from('two') : undefined), files);
      const c = changedDefences(pinned, now, files);
      assert.deepEqual(c.map((x) => x.path), ['/a']);
      assert.notEqual(c[0]!.pinned, c[0]!.now);
    });
  });
  describe('when a file is removed', () => {
    it('reports it as missing', () => {
      const pinned = fingerprint(() => Buffer.from('x'), files);
      const now = fingerprint((p) => (p === '/b' ? Buffer.from('x') : undefined), files);
      assert.deepEqual(changedDefences(pinned, now, files).map((x) => [x.path, x.now]), [['/a', 'missing']]);
    });
  });
});

describe('takePins / parsePins', () => {
  const files = [{ path: '/etc/integrity-lab/gates.json', what: 'G' }, { path: '/x', what: 'X' }];
  const gates = JSON.stringify({ protectedNamespaces: ['kube-system', 'd8-*'], standardLayer: { path: '/std.erofs', rootHash: 'a'.repeat(64) } });
  describe('when the node has the start gate', () => {
    it('pins every file (missing ones as missing) and the gate\'s promise, and reads back the same', () => {
      const pins = takePins((p) => (p === '/etc/integrity-lab/gates.json' ? Buffer.from(gates) : undefined), '/etc/integrity-lab/gates.json', new Date('2026-12-05T12:00:00Z'), files);
      assert.equal(pins.files['/x'], 'missing');
      assert.deepEqual(pins.gate?.protectedNamespaces, ['kube-system', 'd8-*']);
      assert.deepEqual(parsePins(JSON.stringify(pins), 'pins.json'), pins);
    });
  });
  describe('when the node has no start gate (vanilla)', () => {
    it('makes no promise for it', () => {
      assert.equal(takePins(() => undefined, '/etc/integrity-lab/gates.json', new Date(), files).gate, undefined);
    });
  });
  describe('when a digest in the pin file is not one', () => {
    it('names the file, the entry and the value', () => {
      assert.throws(() => parsePins(JSON.stringify({ pinnedAt: '2026-12-05T12:00:00Z', files: { '/x': 'nope' } }), 'pins.json'), /pins.json: files\["\/x"\]: expected 64 hex digits or "missing", got "nope"/);
    });
  });
});

describe('configToRun', () => {
  const WATCHDOG_JSON = '/etc/integrity-lab/watchdog.json';
  const lab = JSON.stringify(resolveConfig({ namespaces: [{ match: 'kube-system', mode: 'detect' }, { match: 'd8-*', mode: 'enforce' }, { match: '*', mode: 'detect' }] }));
  const pins = takePins((p) => (p === WATCHDOG_JSON ? Buffer.from(lab) : undefined), '/etc/integrity-lab/gates.json', new Date('2026-12-05T12:00:00Z'), [{ path: WATCHDOG_JSON, what: 'W' }], WATCHDOG_JSON);
  describe('when watchdog.json is the file the lab pinned', () => {
    it('runs with the file', () => {
      assert.deepEqual(configToRun(lab, parsePins(JSON.stringify(pins), 'pins.json')), { text: lab, source: 'file' });
    });
  });
  describe('when root took kube-system out of watchdog.json (and the catch-all), then restarts the watchdog', () => {
    const edited = JSON.stringify({ ...JSON.parse(lab), namespaces: [{ match: 'd8-*', mode: 'enforce' }] });
    it('runs with the pinned configuration, which still watches kube-system, and says so', () => {
      const chosen = configToRun(edited, pins);
      assert.equal(chosen.source, 'pins');
      assert.match(chosen.note!, /differs from the one the lab pinned at 2026-12-05T12:00:00.000Z/);
      assert.equal(modeFor(parseWatchdogConfig(chosen.text!), 'kube-system'), 'detect');
    });
    it('without the pinned configuration the edit is believed: kube-system is not watched', () => {
      assert.equal(modeFor(parseWatchdogConfig(configToRun(edited, undefined).text!), 'kube-system'), undefined);
    });
  });
  describe('when root turned enforce off for d8-*', () => {
    it('runs with the pinned enforce mode', () => {
      const edited = JSON.stringify({ ...JSON.parse(lab), namespaces: [{ match: '*', mode: 'detect' }] });
      assert.equal(modeFor(parseWatchdogConfig(configToRun(edited, pins).text!), 'd8-system'), 'enforce');
    });
  });
  describe('when the pin file carries something other than text as the configuration', () => {
    it('is an invalid pin file, naming the field', () => {
      assert.throws(() => parsePins(JSON.stringify({ ...pins, watchdogConfig: { namespaces: [] } }), 'pins.json'), /pins.json: watchdogConfig: expected the text of watchdog.json/);
    });
  });
});

describe('defenceFiles / pinnedDefenceFiles', () => {
  it('adds the Localhost profiles to the gates\' files, once each, and finds them again from the pins', () => {
    const files = defenceFiles(['/var/lib/kubelet/seccomp/a.json', '/usr/bin/runc']);
    assert.equal(files.filter((f) => f.path === '/usr/bin/runc').length, 1);
    assert.match(files.find((f) => f.path === '/var/lib/kubelet/seccomp/a.json')!.what, /Localhost seccomp profile/);
    const pins = fingerprint(() => Buffer.from('x'), files);
    assert.deepEqual(pinnedDefenceFiles(pins), files);
  });
});
