/**
 * containerd's own records that the gates and the watchdog read: which
 * digest an image name points to, and which image CRI created a container
 * from. Two ways to ask, with the same answers and the same refusals:
 *
 * - `ctrRecords`: the `ctr` CLI, through an Exec (a node, or a fake in
 *   tests); one Go process per question.
 * - `apiRecords`: containerd's gRPC API (Images.Get, Containers.Get) over
 *   one connection kept open, for the resident gate daemon. A `ctr` process
 *   was the largest stage of a start decision (about 46 ms of each
 *   sandbox's and container's decision, docs/benchmarks.md).
 *
 * The API is described here by the few fields read, with containerd's
 * field numbers (api/services/images/v1/images.proto,
 * api/services/containers/v1/containers.proto, api/types/descriptor.proto);
 * protobuf decoding skips the fields not listed. The namespace goes in the
 * `containerd-namespace` metadata header, as every containerd client sends it.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { exerciseResponseCodecs } from '../grpc-warm-up.ts';
import { runChecked, type Exec } from '../exec.ts';
import { Refusal } from './refusal.ts';

export interface ContainerdTarget {
  address?: string;
  namespace: string;
}

export interface ContainerdRecords {
  /** containerd's image record for `image`: its target digest (a manifest or an index). */
  imageTarget(image: string): Promise<string>;
  /**
   * The image a CRI container was created from, as containerd's CRI
   * recorded it at CreateContainer: its image ID, the digest of the image's
   * config (the container record's `io.cri-containerd.container.metadata`
   * extension, `ImageRef`). The OCI spec's process (entrypoint, command,
   * env, user, working directory) was built then from that config, so
   * this, not the image's name looked up again at start, says what the
   * container runs.
   */
  criImageId(containerId: string): Promise<string>;
  /**
   * The OCI spec in containerd's record of the container: what CRI built at
   * CreateContainer (or RunPodSandbox), and what containerd writes into the
   * task's bundle as config.json when the task is created. The bundle file
   * is root's to edit on the node; the record is containerd's
   * (lab/gates/bundle-spec.ts compares the two).
   */
  recordedSpec(containerId: string): Promise<RecordedSpec>;
  /**
   * One read of containerd's record of the container, for a decision that
   * needs both its spec and its image ID: each answer, or its refusal, as
   * `recordedSpec` and `criImageId` give them, from the same snapshot.
   */
  container(containerId: string): Promise<ContainerRecord>;
}

/** containerd's record of a container as read once; each getter throws the refusal its own question would. */
export interface ContainerRecord {
  spec(): RecordedSpec;
  criImageId(): string;
}

/** An OCI spec as containerd recorded it (JSON), with the fields the gates read. */
export interface RecordedSpec {
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

const CRI_METADATA_EXTENSION = 'io.cri-containerd.container.metadata';

const notInStore = (image: string, namespace: string) => new Refusal(`image ${image} is not in containerd's image store (namespace ${namespace})`);
const noRecord = (containerId: string, why: string, purpose = 'to say which image CRI created it from') => new Refusal(`container ${containerId} has no containerd record ${purpose}: ${why}`);
const SPEC_PURPOSE = 'to hold the spec its bundle was written from';

/** The image ID in CRI's metadata extension (JSON bytes); refuses anything else. */
/** The record's spec (the JSON bytes of its `google.protobuf.Any`); refuses anything that is not an OCI spec object. */
export function specFromRecord(containerId: string, value: Buffer | string | undefined): RecordedSpec {
  let spec: unknown;
  try {
    spec = value === undefined ? undefined : typeof value === 'string' ? JSON.parse(value) : JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new Refusal(`container ${containerId}: the spec in containerd's record of it is not JSON (${(err as Error).message})`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new Refusal(`container ${containerId}: containerd's record of it holds no OCI spec`);
  return spec as RecordedSpec;
}

export function imageIdFromCriMetadata(containerId: string, extension: Buffer | undefined): string {
  let imageRef: unknown;
  try {
    imageRef = extension === undefined ? undefined : (JSON.parse(extension.toString('utf8')) as { Metadata?: { ImageRef?: unknown } }).Metadata?.ImageRef;
  } catch (err) {
    throw new Refusal(`container ${containerId}: containerd's record of it cannot be read (${(err as Error).message})`);
  }
  if (typeof imageRef !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(imageRef)) {
    throw new Refusal(`container ${containerId} was not created through CRI (its containerd record names no image ID): a protected container must be`);
  }
  return imageRef;
}

/** The per-question methods over one way of reading a container's record. */
function containerQuestions(read: (containerId: string) => Promise<ContainerRecord>): Pick<ContainerdRecords, 'container' | 'criImageId' | 'recordedSpec'> {
  return {
    container: read,
    criImageId: async (containerId) => (await read(containerId)).criImageId(),
    recordedSpec: async (containerId) => (await read(containerId)).spec(),
  };
}

const ctr = (c: ContainerdTarget, ...args: string[]) => ['ctr', ...(c.address ? ['--address', c.address] : []), '-n', c.namespace, ...args];

/** The records as `ctr` prints them. */
export function ctrRecords(exec: Exec, c: ContainerdTarget): ContainerdRecords {
  const readRecord = async (containerId: string): Promise<ContainerRecord> => {
    const r = await exec.run(ctr(c, 'containers', 'info', containerId));
    const info = () => {
      try {
        return JSON.parse(r.stdout.toString()) as { Spec?: unknown; Extensions?: Record<string, { value?: string }> };
      } catch (err) {
        throw new Refusal(`container ${containerId}: containerd's record of it cannot be read (${(err as Error).message})`);
      }
    };
    return {
      spec() {
        if (r.exitCode !== 0) throw noRecord(containerId, r.stderr.trim(), SPEC_PURPOSE);
        const spec = info().Spec;
        return specFromRecord(containerId, spec === undefined ? undefined : JSON.stringify(spec));
      },
      criImageId() {
        if (r.exitCode !== 0) throw noRecord(containerId, r.stderr.trim());
        const value = info().Extensions?.[CRI_METADATA_EXTENSION]?.value;
        return imageIdFromCriMetadata(containerId, value === undefined ? undefined : Buffer.from(value, 'base64'));
      },
    };
  };
  return {
    async imageTarget(image) {
      const r = await runChecked(exec, ctr(c, 'images', 'ls', `name==${image}`));
      const line = r.stdout.toString().split('\n').slice(1).find((l) => l.startsWith(`${image} `));
      const digest = line?.trim().split(/\s+/)[2];
      if (!digest?.startsWith('sha256:')) throw notInStore(image, c.namespace);
      return digest;
    },
    ...containerQuestions(readRecord),
  };
}

/** The part of containerd's API read here (protobufjs JSON form). */
const API_DESCRIPTION = {
  nested: {
    containerd: {
      nested: {
        types: { nested: { Descriptor: { fields: { mediaType: { type: 'string', id: 1 }, digest: { type: 'string', id: 2 } } } } },
        services: {
          nested: {
            images: {
              nested: {
                v1: {
                  nested: {
                    Images: { methods: { Get: { requestType: 'GetImageRequest', responseType: 'GetImageResponse' } } },
                    GetImageRequest: { fields: { name: { type: 'string', id: 1 } } },
                    GetImageResponse: { fields: { image: { type: 'Image', id: 1 } } },
                    Image: { fields: { name: { type: 'string', id: 1 }, target: { type: 'containerd.types.Descriptor', id: 3 } } },
                  },
                },
              },
            },
            containers: {
              nested: {
                v1: {
                  nested: {
                    Containers: { methods: { Get: { requestType: 'GetContainerRequest', responseType: 'GetContainerResponse' } } },
                    GetContainerRequest: { fields: { id: { type: 'string', id: 1 } } },
                    GetContainerResponse: { fields: { container: { type: 'Container', id: 1 } } },
                    // google.protobuf.Any on the wire: type_url = 1, value = 2.
                    Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
                    Container: { fields: { id: { type: 'string', id: 1 }, spec: { type: 'Any', id: 5 }, extensions: { keyType: 'string', type: 'Any', id: 10 } } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** Loaded once; also what a test's stand-in containerd serves. */
export const CONTAINERD_API = fromJSON(API_DESCRIPTION as unknown as Parameters<typeof fromJSON>[0], { keepCase: false, defaults: false });

type Get<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;
interface ImagesClient extends grpc.Client {
  Get: Get<{ name: string }, { image?: { target?: { digest?: string } } }>;
}
interface ContainersClient extends grpc.Client {
  Get: Get<{ id: string }, { container?: { spec?: { value?: Buffer }; extensions?: Record<string, { value?: Buffer }> } }>;
}

/** containerd's default socket, as `ctr` uses it when CONTAINERD_ADDRESS is not set. */
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

/**
 * The records over containerd's gRPC API. The connection is made on the
 * first question and kept; `close()` ends it. Each question has `timeoutMs`;
 * an unreachable containerd is a refusal naming the socket, never an allow.
 */
export function apiRecords(c: ContainerdTarget, timeoutMs = 10_000): ContainerdRecords & { warmUp(): Promise<void>; close(): void } {
  const socket = c.address ?? DEFAULT_CONTAINERD_SOCKET;
  const loaded = grpc.loadPackageDefinition(CONTAINERD_API) as unknown as {
    containerd: { services: { images: { v1: { Images: grpc.ServiceClientConstructor } }; containers: { v1: { Containers: grpc.ServiceClientConstructor } } } };
  };
  const target = `unix://${socket}`;
  const credentials = grpc.credentials.createInsecure();
  // containerd restarts (an attack may restart it; on kind the daemon starts
  // first): reconnect within a second, not after gRPC's default backoff of
  // up to two minutes, during which every decision would be refused.
  const options = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
  const images = new loaded.containerd.services.images.v1.Images(target, credentials, options) as unknown as ImagesClient;
  const containers = new loaded.containerd.services.containers.v1.Containers(target, credentials, options) as unknown as ContainersClient;
  const call = <Req, Res>(client: { Get: Get<Req, Res> }, req: Req): Promise<{ res?: Res; err?: grpc.ServiceError }> =>
    new Promise((resolve) => {
      // Wait for a connection (containerd coming back) until the deadline, rather than failing at once.
      const metadata = new grpc.Metadata({ waitForReady: true });
      metadata.set('containerd-namespace', c.namespace);
      client.Get(req, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => resolve(err ? { err } : { res }));
    });
  const unreachable = (what: string, err: grpc.ServiceError) => new Refusal(`cannot ask containerd at ${socket} ${what}: ${grpc.status[err.code] ?? err.code}: ${err.details}`);
  const readRecord = async (containerId: string): Promise<ContainerRecord> => {
    const { res, err } = await call(containers, { id: containerId });
    const refusal = (purpose?: string) => (err?.code === grpc.status.NOT_FOUND ? noRecord(containerId, err.details, purpose) : err ? unreachable(`for container ${containerId}`, err) : undefined);
    return {
      spec() {
        const refused = refusal(SPEC_PURPOSE);
        if (refused) throw refused;
        return specFromRecord(containerId, res?.container?.spec?.value);
      },
      criImageId() {
        const refused = refusal();
        if (refused) throw refused;
        return imageIdFromCriMetadata(containerId, res?.container?.extensions?.[CRI_METADATA_EXTENSION]?.value);
      },
    };
  };
  return {
    async imageTarget(image) {
      const { res, err } = await call(images, { name: image });
      if (err?.code === grpc.status.NOT_FOUND) throw notInStore(image, c.namespace);
      if (err) throw unreachable(`for image ${image}`, err);
      const digest = res?.image?.target?.digest;
      if (!digest?.startsWith('sha256:')) throw notInStore(image, c.namespace);
      return digest;
    },
    ...containerQuestions(readRecord),
    /**
     * The connection and the codecs of every answer read here, before the
     * first decision (lab/grpc-warm-up.ts): a question about an image and a
     * container nobody has, and a sample of each answer through its decoder.
     */
    async warmUp() {
      const sample = { typeUrl: 'integrity-lab/warm-up', value: Buffer.from('{}') };
      exerciseResponseCodecs(CONTAINERD_API, 'containerd.services.images.v1.Images', { Get: { image: { name: 'warm-up', target: { mediaType: 'm', digest: 'sha256:0' } } } });
      exerciseResponseCodecs(CONTAINERD_API, 'containerd.services.containers.v1.Containers', {
        Get: { container: { id: 'warm-up', spec: sample, extensions: { [CRI_METADATA_EXTENSION]: sample } } },
      });
      await Promise.all([call(images, { name: 'integrity-lab.invalid/gate-daemon-warm-up:0' }), call(containers, { id: 'integrity-lab-gate-daemon-warm-up' })]);
    },
    close() {
      images.close();
      containers.close();
    },
  };
}
