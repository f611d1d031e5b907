/**
 * Containers and volumes through the Docker Engine API: the lab's
 * housekeeping (inspect, stop, remove, list by label) without a docker CLI
 * process per call. Each lab used to run about a dozen `docker` CLI commands
 * to start and tear down, each a fork of the harness's large process and a
 * Go program's start (docs/benchmarks.md, "Lab start and teardown").
 *
 * "Already gone" is not an error anywhere here, as with `docker rm -f` and
 * `docker volume rm -f`: teardown is idempotent. Anything else the engine
 * refuses comes back as its message, for the caller to report; an engine
 * that cannot be reached throws ENGINE_UNREACHABLE.
 */
import type Docker from 'dockerode';
import { LabError } from './errors.ts';

export type EngineErrorCode = 'ENGINE_UNREACHABLE';

let client: Promise<Docker> | undefined;

/**
 * The Engine API client (DOCKER_HOST, or the local socket, as the docker
 * CLI finds it), loaded on first use: commands that never need it
 * (`integrity-lab --help`, `verity`) do not pay for loading it.
 */
export function dockerEngine(): Promise<Docker> {
  return (client ??= import('dockerode').then(({ default: Dockerode }) => new Dockerode()));
}

interface EngineFailure {
  statusCode?: number;
  json?: { message?: string } | null;
  message: string;
}

/** The engine's own message for a refused call; throws when the engine was never reached. */
function refusal(err: unknown, what: string): { status: number; message: string } {
  const e = err as EngineFailure;
  if (e.statusCode === undefined) {
    throw new LabError<EngineErrorCode>('ENGINE_UNREACHABLE', `cannot reach the Docker engine to ${what}: ${e.message}`, { cause: err });
  }
  return { status: e.statusCode, message: e.json?.message ?? e.message };
}

export interface ContainerState {
  id: string;
  running: boolean;
  /** The container's init process on the host (0 when it does not run). */
  pid: number;
  hostname: string;
  image: string;
}

/** A container's state by name or id; undefined when there is no such container. */
export async function inspectContainer(name: string): Promise<ContainerState | undefined> {
  const engine = await dockerEngine();
  try {
    const info = await engine.getContainer(name).inspect();
    return { id: info.Id, running: info.State.Running, pid: info.State.Pid, hostname: info.Config.Hostname, image: info.Config.Image };
  } catch (err) {
    if (refusal(err, `inspect container ${name}`).status === 404) return undefined;
    throw err;
  }
}

/** Stops a container (SIGTERM, then SIGKILL after `seconds`); a stopped or missing one is fine. */
export async function stopContainer(name: string, seconds: number): Promise<void> {
  const engine = await dockerEngine();
  try {
    await engine.getContainer(name).stop({ t: seconds });
  } catch (err) {
    const { status, message } = refusal(err, `stop container ${name}`);
    // 304: not running; 404: gone.
    if (status !== 304 && status !== 404) throw new Error(`stopping container ${name}: ${message}`);
  }
}

/**
 * The last `lines` lines a container wrote (stdout and stderr, in order);
 * undefined when it is gone. The engine frames each chunk of a container
 * without a TTY with an 8-byte header (stream, 3 zero bytes, big-endian
 * size), which is taken off here.
 */
export async function containerLogTail(name: string, lines: number): Promise<string | undefined> {
  const engine = await dockerEngine();
  let raw: Buffer;
  try {
    raw = (await engine.getContainer(name).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
  } catch (err) {
    if (refusal(err, `read the log of container ${name}`).status === 404) return undefined;
    throw err;
  }
  return demuxLog(raw);
}

/** A multiplexed container log (the engine's 8-byte frame headers) as text; text that is not framed is returned as it is. */
export function demuxLog(raw: Buffer): string {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const stream = raw[at]!;
    const size = raw.readUInt32BE(at + 4);
    if (stream > 2 || raw[at + 1] !== 0 || raw[at + 2] !== 0 || raw[at + 3] !== 0 || at + 8 + size > raw.length) return raw.toString('utf8');
    chunks.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return at === raw.length ? Buffer.concat(chunks).toString('utf8') : raw.toString('utf8');
}

/** Removes a container and its anonymous volumes, running or not (`docker rm -f -v`); returns the engine's message when it refuses. */
export async function removeContainer(name: string): Promise<string | undefined> {
  const engine = await dockerEngine();
  try {
    await engine.getContainer(name).remove({ force: true, v: true });
    return undefined;
  } catch (err) {
    const { status, message } = refusal(err, `remove container ${name}`);
    return status === 404 ? undefined : `removing container ${name}: ${message}`;
  }
}

export interface LabelledContainer {
  id: string;
  /** Without the leading slash the API gives. */
  name: string;
  /** created, running, exited, … */
  state: string;
  labels: Record<string, string>;
}

/** Every container, running or not, that carries `label` (`key` or `key=value`). */
export async function containersLabelled(label: string): Promise<LabelledContainer[]> {
  const engine = await dockerEngine();
  let list: Docker.ContainerInfo[];
  try {
    list = await engine.listContainers({ all: true, filters: { label: [label] } });
  } catch (err) {
    throw new Error(`listing containers labelled ${label}: ${refusal(err, `list containers labelled ${label}`).message}`);
  }
  return list.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), state: c.State, labels: c.Labels ?? {} }));
}

/**
 * Creates a named volume with labels; an existing volume of that name is
 * reused, as with `docker volume create`. `driverOpts` go to the local
 * driver (`type: tmpfs` keeps the volume in memory).
 */
export async function createVolume(name: string, labels: Record<string, string>, driverOpts?: Record<string, string>): Promise<void> {
  const engine = await dockerEngine();
  try {
    await engine.createVolume({ Name: name, Labels: labels, ...(driverOpts ? { DriverOpts: driverOpts } : {}) });
  } catch (err) {
    throw new Error(`creating volume ${name}: ${refusal(err, `create volume ${name}`).message}`);
  }
}

/** Removes a named volume (`docker volume rm -f`); returns the engine's message when it refuses. */
export async function removeVolume(name: string): Promise<string | undefined> {
  const engine = await dockerEngine();
  try {
    await engine.getVolume(name).remove({ force: true });
    return undefined;
  } catch (err) {
    const { status, message } = refusal(err, `remove volume ${name}`);
    return status === 404 ? undefined : `removing volume ${name}: ${message}`;
  }
}
