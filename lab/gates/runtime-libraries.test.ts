import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { LOADER_CACHE, pinRuntime, runtimeChecker } from './pins.ts';
import { elfInterpreter, parseLoaderList, pinRuntimeLibraries, type LibraryIo } from './runtime-libraries.ts';

/** runc's list on the lab node (node image, 2026-12-07). */
const RUNC_LIST = `\tlinux-vdso.so.1 (0x00007f952455c000)
\tlibseccomp.so.2 => /usr/lib/x86_64-linux-gnu/libseccomp.so.2 (0x00007f9524525000)
\tlibc.so.6 => /usr/lib/x86_64-linux-gnu/libc.so.6 (0x00007f952432f000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f952455e000)
`;

describe('elfInterpreter', () => {
  it("reads a dynamic program's interpreter, and none from a static one", () => {
    assert.equal(elfInterpreter(readFileSync(process.execPath)), '/lib64/ld-linux-x86-64.so.2');
    // A static program: the ELF header and one PT_LOAD header, no PT_INTERP.
    const elf = Buffer.alloc(64 + 56);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf[5] = 1;
    elf.writeBigUInt64LE(64n, 0x20);
    elf.writeUInt16LE(56, 0x36);
    elf.writeUInt16LE(1, 0x38);
    elf.writeUInt32LE(1, 64);
    assert.equal(elfInterpreter(elf), undefined);
  });
  it('refuses what is not a 64-bit ELF file', () => {
    assert.throws(() => elfInterpreter(Buffer.from('#!/bin/sh\nexec /usr/sbin/runc "$@"\n'.padEnd(80))), /not an ELF file/);
  });
});

describe('parseLoaderList', () => {
  it('gives each library and the loader, not the vDSO', () => {
    assert.deepEqual(parseLoaderList(RUNC_LIST), ['/usr/lib/x86_64-linux-gnu/libseccomp.so.2', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
  it('refuses a library the loader cannot find', () => {
    assert.throws(() => parseLoaderList('\tlibseccomp.so.2 => not found\n'), /cannot find libseccomp\.so\.2 \(not found\)/);
  });
});

describe('pinRuntimeLibraries and runtimeChecker', () => {
  const RUNC = '/usr/bin/runc';
  const at = new Date('2026-12-07T02:00:00Z');
  /** A node whose files root can rewrite. */
  function node() {
    const files = new Map<string, Buffer>([
      [RUNC, readFileSync(process.execPath).subarray(0, 4096)],
      ['/usr/lib/x86_64-linux-gnu/libseccomp.so.2', Buffer.from('genuine libseccomp')],
      ['/usr/lib/x86_64-linux-gnu/libc.so.6', Buffer.from('genuine libc')],
      ['/lib64/ld-linux-x86-64.so.2', Buffer.from('genuine loader')],
      [LOADER_CACHE, Buffer.from('genuine cache')],
    ]);
    const read = (p: string) => {
      const b = files.get(p);
      if (!b) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return b;
    };
    const io: LibraryIo = { read, list: () => RUNC_LIST };
    return { files, io, pinIo: { read, identity: (p: string) => read(p).toString('hex') } };
  }

  it("pins every library, the loader and the loader's cache", () => {
    const n = node();
    const pins = pinRuntimeLibraries(RUNC, at, n.io);
    assert.deepEqual(pins.map((p) => (p instanceof Error ? p.message : p.path)), [
      '/usr/lib/x86_64-linux-gnu/libseccomp.so.2', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2', LOADER_CACHE,
    ]);
  });

  it('refuses once a library was replaced, naming it, and allows while every file is the pinned one', () => {
    const n = node();
    const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.pinIo, undefined, pinRuntimeLibraries(RUNC, at, n.io));
    check(RUNC);
    n.files.set('/usr/lib/x86_64-linux-gnu/libseccomp.so.2', Buffer.from('attacker libseccomp with a constructor'));
    assert.throws(
      () => check(RUNC),
      (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith('a file the dynamic loader maps into the OCI runtime /usr/lib/x86_64-linux-gnu/libseccomp.so.2 changed since the gate pinned it at 2026-12-07T02:00:00.000Z'),
    );
  });

  it("refuses once the loader's cache changed (a library looked up elsewhere)", () => {
    const n = node();
    const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.pinIo, undefined, pinRuntimeLibraries(RUNC, at, n.io));
    n.files.set(LOADER_CACHE, Buffer.from('cache naming /usr/local/lib/libseccomp.so.2'));
    assert.throws(() => check(RUNC), (err) => isLabError(err, 'GATE_DEFENCE_CHANGED') && err.message.startsWith("the dynamic loader's cache /etc/ld.so.cache changed"));
  });

  it('refuses every protected container when the list could not be made', () => {
    const n = node();
    const pins = pinRuntimeLibraries(RUNC, at, { ...n.io, list: () => '\tlibseccomp.so.2 => not found\n' });
    assert.equal(pins.length, 1);
    const check = runtimeChecker(pinRuntime(RUNC, at, n.io.read), n.pinIo, undefined, pins);
    assert.throws(() => check(RUNC), (err) => isLabError(err, 'GATE_PINS_MISSING') && /cannot find libseccomp\.so\.2/.test(err.message));
  });

  it('on this machine: lists what the loader maps into node itself', () => {
    const pins = pinRuntimeLibraries(process.execPath, at);
    const paths = pins.map((p) => (p instanceof Error ? assert.fail(p.message) : p.path));
    assert.ok(paths.some((p) => /\/libc\.so\.6$/.test(p)), paths.join(' '));
    assert.ok(paths.includes(LOADER_CACHE));
  });
});
