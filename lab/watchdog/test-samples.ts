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
export const STANDARD = { mountPoint: '/run/integrity-lab/standard-layer', file: '/var/lib/integrity-lab/standard-layer.erofs' };

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
    standardLayer: set === 'vanilla' ? undefined : STANDARD,
    // The lab node attaches the standard layer through loop0 (captured with losetup).
    loopBackingFile: (d) => (d === '/dev/loop0' ? STANDARD.file : undefined),
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
