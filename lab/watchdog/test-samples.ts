/**
 * Test helper: mountinfo and config.json captured from lab nodes
 * (lab/watchdog/testdata/<set>/), with the derivation context the daemon
 * would build for them. Not part of the component's API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffContext } from './diff.ts';
import { deriveExpectation, type MountExpectation, type OciSpec } from './expected.ts';
import { parseMountinfo, type MountinfoEntry } from './mountinfo.ts';

export const TESTDATA = join(import.meta.dirname, 'testdata');
export const TASK_DIR = '/run/containerd/io.containerd.runtime.v2.task/k8s.io';

export type SampleSet = 'integrity' | 'integrity-volumes' | 'vanilla';

export function sampleText(set: SampleSet, file: string): string {
  return readFileSync(join(TESTDATA, set, file), 'utf8');
}

export interface Sample {
  node: MountinfoEntry[];
  spec: OciSpec;
  id: string;
  expectation: MountExpectation;
  mountinfo(variant?: string): MountinfoEntry[];
  diffContext(kinds?: Record<string, 'file' | 'directory'>): DiffContext;
}

/** A captured container, its expected set derived as the daemon does on that node. */
export function sample(set: SampleSet, container: string): Sample {
  const node = parseMountinfo(sampleText(set, 'node.mountinfo'));
  const spec = JSON.parse(sampleText(set, `${container}.config.json`)) as OciSpec;
  const id = sampleText(set, `${container}.id`).trim();
  const expectation = deriveExpectation(spec, {
    bundleDir: `${TASK_DIR}/${id}`,
    nodeMounts: node,
    blockDevice: blockDevices(set),
  });
  return {
    node,
    spec,
    id,
    expectation,
    mountinfo: (variant) => parseMountinfo(sampleText(set, `${container}.${variant ? `${variant}.` : ''}mountinfo`)),
    diffContext: (kinds = {}) => ({
      nodeMounts: node,
      layerMajmins: new Set(expectation.rootfs.layers.filter((l) => !l.problem && l.mount).map((l) => l.mount!.majmin)),
      kindOf: (p) => kinds[p],
    }),
  };
}

/** The node's block devices when the set was captured (major:minor → /dev name). */
export function blockDevices(set: SampleSet): (majmin: string) => string | undefined {
  let text = '';
  try {
    text = sampleText(set, 'block-devices');
  } catch {
    // vanilla sets have no gate-owned layers to resolve
  }
  const map = new Map(text.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  return (majmin) => map.get(majmin);
}
