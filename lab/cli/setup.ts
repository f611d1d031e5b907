/**
 * Host setup before any test or scenario runs: a Docker engine and the lab
 * node image. On a fresh machine this installs docker.io, starts dockerd and
 * builds the image (about a minute); it used to happen silently inside the
 * first test that started a node. Here it is its own visible phase, and it
 * ends with one line that says what was installed and what keeps running.
 */
import { checkNodeRuntime, ensureDockerEngine, ensureNodeImage } from '../node/index.ts';
import type { ProgressListener } from '../progress.ts';

export interface HostSetup {
  engine: Awaited<ReturnType<typeof ensureDockerEngine>>;
  image: Awaited<ReturnType<typeof ensureNodeImage>>;
}

/** One line for the end of the setup phase. */
export function describeSetup({ engine, image }: HostSetup): string {
  const docker = engine.startedByUs
    ? `Docker engine ${engine.serverVersion} started by this run (dockerd keeps running afterwards; stop it yourself if you want it gone)`
    : `Docker engine ${engine.serverVersion} was already running`;
  const node = image.built ? `node image ${image.tag} built (${image.method})` : `node image ${image.tag} reused from the cache`;
  return `${docker}; ${node}`;
}

export async function prepareHost(progress: ProgressListener): Promise<HostSetup> {
  checkNodeRuntime();
  const started = performance.now();
  progress({ phase: 'PREFLIGHT', status: 'RUN', message: 'host setup: Docker engine and lab node image' });
  const engine = await ensureDockerEngine(progress);
  const image = await ensureNodeImage(progress);
  const setup = { engine, image };
  progress({ phase: 'PREFLIGHT', status: 'DONE', message: describeSetup(setup), elapsedMs: performance.now() - started });
  return setup;
}
