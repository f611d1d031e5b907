/**
 * A CRI client (Kubernetes runtime.v1 over gRPC) in TypeScript: the calls the
 * kubelet makes, so the lab drives containerd the way a real node does.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LabError } from '../errors.ts';
import type {
  ContainerConfig,
  ContainerState,
  ContainerStatus,
  ContainerSummary,
  CriImage,
  ExecSyncResult,
  PodSandboxConfig,
  PodSandboxSummary,
} from './types.ts';

export type CriErrorCode = 'CRI_UNAVAILABLE' | 'CRI_CALL_FAILED';

const PROTO = join(import.meta.dirname, 'proto', 'api.proto');

type Unary = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;
type ServiceClient = grpc.Client & Record<string, Unary>;

let cachedDefinition: grpc.GrpcObject | undefined;
function definition(): grpc.GrpcObject {
  if (!cachedDefinition) {
    const packageDefinition = protoLoader.loadSync(PROTO, {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cachedDefinition = grpc.loadPackageDefinition(packageDefinition);
  }
  return cachedDefinition;
}

/** A failed CRI call, carrying the gRPC status for evidence. */
export class CriCallError extends LabError<CriErrorCode> {
  readonly method: string;
  readonly grpcCode: number;
  readonly details: string;
  constructor(method: string, err: grpc.ServiceError) {
    super('CRI_CALL_FAILED', `CRI ${method} failed: ${grpc.status[err.code] ?? err.code}: ${err.details}`, { cause: err });
    this.method = method;
    this.grpcCode = err.code;
    this.details = err.details;
  }
}

export interface CriCallRecord {
  method: string;
  request: unknown;
  response?: unknown;
  error?: string;
  durationMs: number;
}

export class CriClient {
  readonly #runtime: ServiceClient;
  readonly #images: ServiceClient;
  /** Every call made, for evidence in reports. */
  readonly calls: CriCallRecord[] = [];
  readonly address: string;

  constructor(socketPath: string) {
    this.address = `unix://${socketPath}`;
    const v1 = (definition().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Runtime = v1.RuntimeService as grpc.ServiceClientConstructor;
    const Images = v1.ImageService as grpc.ServiceClientConstructor;
    const creds = grpc.credentials.createInsecure();
    const options = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.#runtime = new Runtime(this.address, creds, options) as unknown as ServiceClient;
    this.#images = new Images(this.address, creds, options) as unknown as ServiceClient;
  }

  #call<T>(service: ServiceClient, method: string, request: unknown, timeoutMs = 120_000): Promise<T> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const fn = service[method];
      if (!fn) return reject(new LabError<CriErrorCode>('CRI_CALL_FAILED', `CRI has no method ${method}`));
      fn.call(service, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        const record: CriCallRecord = { method, request, durationMs: performance.now() - started };
        this.calls.push(record);
        if (this.calls.length > 500) this.calls.shift();
        if (err) {
          record.error = `${grpc.status[err.code]}: ${err.details}`;
          if (err.code === grpc.status.UNAVAILABLE) {
            return reject(new LabError<CriErrorCode>('CRI_UNAVAILABLE', `CRI ${method}: containerd is not reachable at ${this.address}: ${err.details}`, { cause: err }));
          }
          return reject(new CriCallError(method, err));
        }
        record.response = res;
        resolve(res as T);
      });
    });
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.#call(this.#runtime, 'version', { version: 'v1' }, 10_000);
  }

  async status(): Promise<{ conditions: { type: string; status: boolean; reason: string; message: string }[] }> {
    const res = await this.#call<{ status: { conditions: [] } }>(this.#runtime, 'status', { verbose: false }, 10_000);
    return res.status;
  }

  async pullImage(image: string, sandboxConfig?: PodSandboxConfig): Promise<string> {
    const res = await this.#call<{ imageRef: string }>(this.#images, 'pullImage', { image: { image }, sandboxConfig }, 600_000);
    return res.imageRef;
  }

  /** The image as the node has it, or undefined when it is not present. */
  async imageStatus(image: string): Promise<CriImage | undefined> {
    const res = await this.#call<{ image?: CriImage | null }>(this.#images, 'imageStatus', { image: { image } });
    return res.image ?? undefined;
  }

  async listImages(): Promise<CriImage[]> {
    return (await this.#call<{ images: CriImage[] }>(this.#images, 'listImages', {})).images;
  }

  async removeImage(image: string): Promise<void> {
    await this.#call(this.#images, 'removeImage', { image: { image } });
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.#call<{ podSandboxId: string }>(this.#runtime, 'runPodSandbox', { config })).podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.#call(this.#runtime, 'stopPodSandbox', { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.#call(this.#runtime, 'removePodSandbox', { podSandboxId });
  }

  async listPodSandboxes(): Promise<PodSandboxSummary[]> {
    return (await this.#call<{ items: PodSandboxSummary[] }>(this.#runtime, 'listPodSandbox', {})).items;
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.#call<{ containerId: string }>(this.#runtime, 'createContainer', { podSandboxId, config, sandboxConfig })).containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.#call(this.#runtime, 'startContainer', { containerId });
  }

  async stopContainer(containerId: string, timeoutSeconds = 5): Promise<void> {
    await this.#call(this.#runtime, 'stopContainer', { containerId, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.#call(this.#runtime, 'removeContainer', { containerId });
  }

  async listContainers(): Promise<ContainerSummary[]> {
    return (await this.#call<{ containers: ContainerSummary[] }>(this.#runtime, 'listContainers', {})).containers;
  }

  /** Container status; `info` is the runtime's verbose JSON (pid, runtimeSpec, …). */
  async containerStatus(containerId: string): Promise<{ status: ContainerStatus; info: Record<string, unknown> }> {
    const res = await this.#call<{ status: ContainerStatus; info: Record<string, string> }>(this.#runtime, 'containerStatus', { containerId, verbose: true });
    const info: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(res.info ?? {})) {
      try {
        info[k] = JSON.parse(v);
      } catch {
        info[k] = v;
      }
    }
    return { status: res.status, info };
  }

  /**
   * The container's state, or `CONTAINER_REMOVED` when containerd no longer
   * has it (on a kind node the kubelet removes exited containers of pods it
   * does not manage).
   */
  async containerState(containerId: string): Promise<ContainerState | 'CONTAINER_REMOVED'> {
    try {
      return (await this.containerStatus(containerId)).status.state;
    } catch (err) {
      if (err instanceof CriCallError && err.grpcCode === grpc.status.NOT_FOUND) return 'CONTAINER_REMOVED';
      throw err;
    }
  }

  async execSync(containerId: string, cmd: string[], timeoutSeconds = 30): Promise<ExecSyncResult> {
    return this.#call<ExecSyncResult>(this.#runtime, 'execSync', { containerId, cmd, timeout: timeoutSeconds }, (timeoutSeconds + 10) * 1000);
  }

  close(): void {
    this.#runtime.close();
    this.#images.close();
  }
}
