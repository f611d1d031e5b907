import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { loadGateConfig } from './config.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatePins, parseGatePins, parseLoaderVariables, pinFiles, pinnedProgram, pinnedReader, pinPreload, pinRuntime, runtimeChecker } from './pins.ts';

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

describe('runtimeChecker with the loader preload list', () => {
  const RUNC = '/usr/bin/runc';
  const at = new Date('2026-12-06T23:00:00Z');
  /** A node whose runc matches its pin, with a preload list that root can write. */
  function node(list: string | undefined) {
    const state = { list };
    const runc = { read: () => Buffer.from('ELF genuine runc'), identity: () => 'dev:1:16:1' };
    const read = (path: string) => {
      assert.equal(path, '/etc/ld.so.preload');
      return state.list;
    };
    const check = runtimeChecker(pinRuntime(RUNC, at, runc.read), runc, { pin: pinPreload(at, read), read });
    return { state, check };
  }

  describe('when the list is as it was when the daemon started', () => {
    it('passes, with no list and with a list the node had from the start', () => {
      node(undefined).check(RUNC);
      node('/usr/lib/x86_64-linux-gnu/libfaketime.so.1\n').check(RUNC);
    });
  });
  describe('when root wrote a library into the list after the daemon started', () => {
    it('refuses with GATE_DEFENCE_CHANGED, naming the list, the pin time and the library', () => {
      const n = node(undefined);
      n.state.list = '/usr/lib/attacker.so\n';
      assert.throws(
        () => n.check(RUNC),
        (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith("the dynamic loader's preload list /etc/ld.so.preload changed since the gate pinned it at 2026-12-06T23:00:00.000Z: no list → a list naming \"/usr/lib/attacker.so\"; a library named there runs inside the OCI runtime"),
      );
    });
  });
  describe('when root emptied a list the node had', () => {
    it('refuses too: the gate holds the node to what it started with', () => {
      const n = node('/usr/lib/x86_64-linux-gnu/libfaketime.so.1\n');
      n.state.list = undefined;
      assert.throws(() => n.check(RUNC), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && /→ no list/.test(err.message));
    });
  });
  describe('when the list could not be read at daemon start', () => {
    it('refuses every check with GATE_PINS_MISSING', () => {
      const runc = { read: () => Buffer.from('ELF genuine runc'), identity: () => 'dev:1:16:1' };
      const pin = pinPreload(at, () => {
        throw new Error('EACCES');
      });
      assert.ok(pin instanceof Error);
      assert.throws(() => runtimeChecker(pinRuntime(RUNC, at, runc.read), runc, { pin })(RUNC), (err) => isLabError(err, 'GATE_PINS_MISSING') && /preload list .*EACCES/.test(err.message));
    });
  });
});

describe('pinnedProgram', () => {
  const GENUINE = '#!/bin/sh\necho genuine "$@"\n';
  const FORGED = '#!/bin/sh\necho forged "$@"\n';
  const WHAT = "the start gate's layer-bind helper";
  /** A helper on disk, pinned by "the host" with its genuine bytes. */
  function helperDir() {
    const dir = mkdtempSync(join(tmpdir(), 'pinned-program-'));
    const path = join(dir, 'layer-bind');
    writeFileSync(path, GENUINE, { mode: 0o755 });
    const pins = pinFiles([{ path, content: GENUINE }], at);
    /** Puts other bytes at the path as a new file renamed over it (a replacement). */
    const replace = (text: string) => {
      writeFileSync(`${path}.new`, text, { mode: 0o755 });
      renameSync(`${path}.new`, path);
    };
    return { dir, path, pins, replace, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const run = (program: string) => execFileSync(program, ['attach'], { encoding: 'utf8' }).trim();

  describe('when the helper is the file the host pinned', () => {
    it("runs it from the daemon's own descriptor, the same one while the file is unchanged", () => {
      using h = helperDir();
      const program = pinnedProgram(h.path, h.pins, WHAT);
      const first = program();
      assert.match(first, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
      assert.equal(program(), first);
      assert.equal(run(first), 'genuine attach');
    });
  });
  describe('when root renames another helper over it', () => {
    it('refuses with GATE_DEFENCE_CHANGED naming the helper, the pin time and both digests, and keeps refusing', () => {
      using h = helperDir();
      const program = pinnedProgram(h.path, h.pins, WHAT);
      program();
      h.replace(FORGED);
      assert.throws(
        () => program(),
        (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith(`${WHAT} ${h.path} changed since the gate pinned it at 2026-12-05T12:00:00.000Z: sha256 ${h.pins.files[h.path]} → `),
      );
      assert.throws(() => program(), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED'));
    });
  });
  describe('when root edits the helper in place', () => {
    it('refuses', () => {
      using h = helperDir();
      const program = pinnedProgram(h.path, h.pins, WHAT);
      program();
      writeFileSync(h.path, FORGED.replace('forged', 'forge!'));
      assert.throws(() => program(), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED'));
    });
  });
  describe('when root swaps the file after the check, before the gate runs it', () => {
    it('the program run is still the checked file', () => {
      using h = helperDir();
      const program = pinnedProgram(h.path, h.pins, WHAT)();
      h.replace(FORGED);
      assert.equal(run(program), 'genuine attach');
    });
  });
  describe('when the path names a new copy of the genuine bytes (a reinstall)', () => {
    it('passes, and runs the new file', () => {
      using h = helperDir();
      const program = pinnedProgram(h.path, h.pins, WHAT);
      program();
      h.replace(GENUINE);
      assert.equal(run(program()), 'genuine attach');
    });
  });
  describe('when the helper is not among the pins, or there are no pins', () => {
    it('refuses every use with GATE_PINS_MISSING', () => {
      using h = helperDir();
      const other = pinFiles([{ path: CONFIG, content: '{}' }], at);
      assert.throws(() => pinnedProgram(h.path, other, WHAT)(), (err) => isLabError(err, 'GATE_PINS_MISSING') && err.message.includes(`${h.path} is not among the pins`));
      const missing = loadGatePins(join(h.dir, 'no-pins.json'));
      assert.ok(missing instanceof Error);
      assert.throws(() => pinnedProgram(h.path, missing, WHAT)(), (err) => isLabError(err, 'GATE_PINS_MISSING') && err.message.includes(WHAT));
    });
  });
});

describe('parseLoaderVariables', () => {
  it("reads the wrapper's NUL-terminated entries, and none from an empty request body", () => {
    assert.deepEqual(parseLoaderVariables(Buffer.from('LD_PRELOAD=/a.so\0LD_LIBRARY_PATH=/x\0')), ['LD_PRELOAD=/a.so', 'LD_LIBRARY_PATH=/x']);
    assert.deepEqual(parseLoaderVariables(Buffer.alloc(0)), []);
  });
});
