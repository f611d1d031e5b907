import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { loadGateConfig } from './config.ts';
import { loadGatePins, parseGatePins, pinFiles, pinnedReader, pinRuntime, runtimeChecker } from './pins.ts';

const CONFIG = '/etc/integrity-lab/gates.json';
const ROOTS = '/etc/integrity-lab/trusted-roots.pem';
const config = (protectedNamespaces: string[]) =>
  JSON.stringify({
    protectedNamespaces,
    protectedImages: ['127.0.0.1:5000/system/*'],
    trustedRootsFile: ROOTS,
    allowedFormats: ['v2'],
    standardLayer: { path: '/var/lib/integrity-lab/standard-layer.erofs', rootHash: 'a'.repeat(64) },
    verityMode: 'auto',
    decisionLog: '/var/log/integrity-lab/gate-decisions.jsonl',
    runtime: '/usr/bin/runc',
  });
const at = new Date('2026-12-05T12:00:00Z');

function node(files: Record<string, string>) {
  return (p: string) => {
    const v = files[p];
    if (v === undefined) throw new Error(`ENOENT: ${p}`);
    return Buffer.from(v);
  };
}

describe('pinnedReader', () => {
  const pins = pinFiles([{ path: CONFIG, content: config(['kube-system', 'd8-*']) }, { path: ROOTS, content: 'ROOTS' }], at);

  describe('when the pinned files are the bytes the host wrote', () => {
    it('returns them, and the configuration parses', () => {
      const read = pinnedReader(pins, node({ [CONFIG]: config(['kube-system', 'd8-*']), [ROOTS]: 'ROOTS' }));
      assert.deepEqual(loadGateConfig(CONFIG, read).protectedNamespaces, ['kube-system', 'd8-*']);
      assert.equal(read(ROOTS).toString(), 'ROOTS');
    });
  });
  describe('when root removed a protected namespace from gates.json', () => {
    it('refuses with GATE_DEFENCE_CHANGED naming the file, the pin time and both digests', () => {
      const read = pinnedReader(pins, node({ [CONFIG]: config(['d8-*']), [ROOTS]: 'ROOTS' }));
      assert.throws(
        () => loadGateConfig(CONFIG, read),
        (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith(`${CONFIG} changed since the lab pinned it at 2026-12-05T12:00:00.000Z: sha256 ${pins.files[CONFIG]} → `),
      );
    });
    it('is believed by a reader without pins (what the gate did before)', () => {
      assert.deepEqual(loadGateConfig(CONFIG, node({ [CONFIG]: config(['d8-*']) })).protectedNamespaces, ['d8-*']);
    });
  });
  describe('when a file is not pinned', () => {
    it('reads it as it is', () => {
      assert.equal(pinnedReader(pins, node({ '/other': 'x' }))('/other').toString(), 'x');
    });
  });
  describe('when there are no pins', () => {
    it('refuses every read with GATE_PINS_MISSING', () => {
      const missing = loadGatePins('/nowhere/gate-pins.json');
      assert.ok(missing instanceof Error);
      assert.throws(() => pinnedReader(missing, node({ [ROOTS]: 'ROOTS' }))(ROOTS), (err) => isLabError(err, 'GATE_PINS_MISSING') && /nowhere\/gate-pins.json/.test(err.message));
    });
  });
});

describe('parseGatePins', () => {
  describe('when a digest is not 64 hex digits', () => {
    it('names the file and the value', () => {
      assert.throws(() => parseGatePins(JSON.stringify({ pinnedAt: at.toISOString(), files: { [CONFIG]: 'abc' } }), 'pins.json'), (err) => isLabError(err, 'GATE_PINS_MISSING') && err.message.includes(`pins.json: files["${CONFIG}"]: expected 64 hex digits, got "abc"`));
    });
  });
  describe('when no file is pinned', () => {
    it('is an error: empty pins would pin nothing', () => {
      assert.throws(() => parseGatePins(JSON.stringify({ pinnedAt: at.toISOString(), files: {} })), /files: expected/);
    });
  });
});

describe('runtimeChecker', () => {
  const RUNC = '/usr/bin/runc';
  /** A node whose runc can be replaced; counts reads. */
  function runcNode(content: string) {
    const state = { content, inode: 1, mtime: 1, reads: 0 };
    return {
      state,
      io: {
        read: (p: string) => {
          if (p !== RUNC) throw new Error(`ENOENT: ${p}`);
          state.reads++;
          return Buffer.from(state.content);
        },
        identity: (p: string) => {
          if (p !== RUNC) throw new Error(`ENOENT: ${p}`);
          return `dev:${state.inode}:${state.content.length}:${state.mtime}`;
        },
      },
    };
  }

  describe('when runc is the binary the daemon pinned', () => {
    it('passes, and hashes it again only when its identity changes', () => {
      const n = runcNode('ELF genuine runc');
      const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.io);
      check(RUNC);
      check(RUNC);
      assert.equal(n.state.reads, 2, 'one read to pin, one for the first check, none for the second');
    });
  });
  describe("when root replaced runc with its own (a new inode)", () => {
    it('refuses with GATE_DEFENCE_CHANGED naming the runtime, the pin time and both digests', () => {
      const n = runcNode('ELF genuine runc');
      const pin = pinRuntime(RUNC, at, n.io.read);
      assert.ok(!(pin instanceof Error));
      const check = runtimeChecker(pin, n.io);
      check(RUNC);
      Object.assign(n.state, { content: '#!/bin/sh\nexec /usr/lib/runc.genuine "$@"\n', inode: 2 });
      assert.throws(
        () => check(RUNC),
        (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith(`the OCI runtime ${RUNC} changed since the gate pinned it at 2026-12-05T12:00:00.000Z: sha256 ${pin.sha256} → `),
      );
      // And keeps refusing: a failed check is not remembered as a match.
      assert.throws(() => check(RUNC), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED'));
    });
  });
  describe('when runc was edited in place to the same length and its identity changed', () => {
    it('refuses', () => {
      const n = runcNode('ELF genuine runc');
      const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.io);
      check(RUNC);
      Object.assign(n.state, { content: 'ELF patched runc', mtime: 2 });
      assert.throws(() => check(RUNC), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED'));
    });
  });
  describe('when runc is gone', () => {
    it('refuses, saying it cannot be read', () => {
      const n = runcNode('ELF genuine runc');
      const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), { read: () => { throw new Error('ENOENT'); }, identity: () => { throw new Error('ENOENT'); } });
      assert.throws(() => check(RUNC), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && /cannot be read \(ENOENT\)/.test(err.message));
    });
  });
  describe('when the gate is asked about another runtime path than the one it pinned', () => {
    it('refuses', () => {
      const n = runcNode('ELF genuine runc');
      assert.throws(() => runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.io)('/tmp/runc'), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && /pinned \/usr\/bin\/runc/.test(err.message));
    });
  });
  describe('when the runtime could not be pinned at daemon start', () => {
    it('refuses every check with GATE_PINS_MISSING', () => {
      const pin = pinRuntime('/nowhere/runc', at, () => { throw new Error('ENOENT'); });
      assert.ok(pin instanceof Error);
      assert.throws(() => runtimeChecker(pin)(RUNC), (err) => isLabError(err, 'GATE_PINS_MISSING') && /\/nowhere\/runc/.test(err.message));
    });
  });
});
