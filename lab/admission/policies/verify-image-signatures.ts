/**
 * Attached-signature gate for protected namespaces (`d8-*`, `kube-system` by
 * default): every container, init container and ephemeral container image
 * and image volume reference must pass the injected ImageSignatureVerifier (delivery-kit signature,
 * checked by lab/signer). The denial reads like Deckhouse's own:
 *
 *   [verify-image-signatures] Image signature verification failed: <image>: <reason>
 *
 * There is no warn or dryrun mode here: an unsigned image in a system
 * namespace is exactly what the integrity controls exist to stop. A verifier
 * that throws or stalls is a refusal (the cache wrapper turns both into
 * `{ ok: false }`, and the engine denies on anything thrown).
 */
import { anyGlobMatch } from '../glob.ts';
import { type AdmissionObject, podSpecOf, pulledImagesOf } from '../pod.ts';
import type { NamespaceInfo, Policy, PolicyContext, Violation } from '../types.ts';
import { VERIFY_IMAGE_SIGNATURES_PREFIX } from './security-policy.ts';

export const DEFAULT_PROTECTED_NAMESPACES: readonly string[] = ['d8-*', 'kube-system'];

export class VerifyImageSignaturesPolicy implements Policy {
  readonly name = 'verify-image-signatures';
  readonly #namespaces: readonly string[];

  constructor(protectedNamespaces: readonly string[] = DEFAULT_PROTECTED_NAMESPACES) {
    this.#namespaces = protectedNamespaces;
  }

  /** True when pods in `namespace` need attached signatures. */
  protects(namespace: string): boolean {
    return anyGlobMatch(this.#namespaces, namespace);
  }

  async evaluate(object: AdmissionObject, namespace: NamespaceInfo, ctx: PolicyContext): Promise<Violation[]> {
    if (!this.protects(namespace.name)) return [];
    // Image volumes too: kubelet pulls and mounts them like container images.
    const images = [...new Set(pulledImagesOf(podSpecOf(object)).map((p) => p.image))];
    const results = await Promise.all(images.map(async (image) => ({ image, result: await ctx.imageVerifier.verify(image) })));
    return results
      .filter(({ result }) => result.ok !== true)
      .map(({ image, result }) => ({
        policy: this.name,
        mode: 'deny' as const,
        message: `${VERIFY_IMAGE_SIGNATURES_PREFIX}${image}${result.ok === true ? '' : `: ${String((result as { reason?: unknown }).reason ?? 'verifier refused')}`}`,
      }));
  }
}
