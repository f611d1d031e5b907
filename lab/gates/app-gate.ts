/**
 * The start gate's application tier: runs the application image checker
 * (app-checker.ts) for a container in an application namespace and turns
 * its verdict into the gate's decision. The rootfs is not rewired: the
 * application tier checks the image, it does not make the rootfs read-only.
 */
import type { Exec } from '../exec.ts';
import { runAppChecker, type AppCheckOutcome } from './app-checker.ts';
import type { GateDecision } from './runtime-gate.ts';

export async function gateApplication(base: GateDecision, rootfs: string, exec: Exec, run: typeof runAppChecker = runAppChecker): Promise<GateDecision> {
  const outcome: AppCheckOutcome = await run(exec, { image: base.image ?? '', rootfs });
  if (!outcome.ok) {
    return { ...base, action: 'refuse', check: outcome.code, reason: `application tier check failed [${outcome.code}]: ${outcome.reason}` };
  }
  const v = outcome.verdict;
  return {
    ...base,
    action: 'allow',
    reason:
      `application tier: ${v.image} is known by ${v.known.digest} (${v.known.source === 'pod' ? 'named by the pod' : 'recorded at pull'}); ` +
      `manifest ${v.manifestDigest}, config ${v.configDigest} and ${v.layers.length} layer blobs match their digests; ` +
      `every layer.erofs matches the reference rebuilt from its blob`,
    applicationLayers: v.layers.map((l) => ({ digest: l.digest, layerFile: l.layerFile, reference: l.reference, actual: l.actual, cached: l.cached && l.actualCached })),
  };
}
