/**
 * First-use costs of a gRPC client, paid when a resident daemon starts
 * rather than inside its first decision: protobufjs builds each message
 * type's encoder and decoder the first time it meets that type, and a
 * client connects on its first call. Both are the same work whenever they
 * happen; a daemon on a pod's start path should do them before any pod.
 */
import type { PackageDefinition } from '@grpc/proto-loader';

/**
 * Encodes and decodes `responses` (a sample response per method of
 * `service`, with every nested message the daemon reads filled in) through
 * the package definition's own codecs. Local CPU only: nothing is sent.
 */
export function exerciseResponseCodecs(definition: PackageDefinition, service: string, responses: Record<string, unknown>): void {
  const methods = definition[service] as Record<string, { responseSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown }> | undefined;
  if (!methods) throw new Error(`no service ${service} in the package definition`);
  for (const [method, sample] of Object.entries(responses)) {
    const codec = methods[method];
    if (!codec) throw new Error(`no method ${method} in ${service}`);
    codec.responseDeserialize(codec.responseSerialize(sample));
  }
}
