/**
 * The application image checker runs as its own process, started by the
 * gate daemon for each application container: a crash (a signal, an
 * exhausted heap, a broken install) then costs one verdict, not the daemon,
 * and the gate can say that the checker crashed rather than that the image
 * is bad. No verdict on stdout refuses the start (fail closed).
 *
 * Protocol: a JSON request on stdin, one JSON verdict line on stdout.
 */
import { describeError, isLabError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import { localExec } from '../exec.ts';
import { readFileSync } from 'node:fs';
import { checkApplicationImage, CONTENT_ROOT, ReferenceCache, type AppCheckCode, type AppCheckDeps, type AppImageVerdict } from './app-image.ts';
import { RootHashCache } from './layer-check.ts';
import { readPullRecord, PULL_RECORD_PATH } from './pull-record.ts';

export const APP_CHECKER_PATH = '/opt/integrity-lab/app-check.mjs';
export const REFERENCE_CACHE_PATH = '/run/integrity-lab/app-reference-cache.json';

export interface AppCheckRequest {
  image: string;
  /** Node path of the container's rootfs mount. */
  rootfs: string;
}

export type AppCheckOutcome = { ok: true; verdict: AppImageVerdict } | { ok: false; code: AppCheckCode; reason: string };

/** The checker's dependencies inside the node. */
export function nodeAppCheckDeps(exec: Exec = localExec): AppCheckDeps {
  const layers = new RootHashCache('/run/integrity-lab/root-hash-cache.json');
  return {
    exec,
    // ctr's own rule: CONTAINERD_ADDRESS (the lab node sets it), else containerd's default socket (a kind node).
    containerd: { address: process.env.CONTAINERD_ADDRESS || '/run/containerd/containerd.sock', namespace: 'k8s.io' },
    contentRoot: CONTENT_ROOT,
    pullRecord: () => readPullRecord(PULL_RECORD_PATH),
    references: new ReferenceCache(REFERENCE_CACHE_PATH),
    layerRootHash: (file) => layers.rootHash(file),
    workDir: '/var/lib/integrity-lab/app-check',
  };
}

/** The checker process's body: never throws; an unexpected error is reported as a crash of the check. */
export async function appCheckerMain(stdin: string, deps: AppCheckDeps, mountinfo: () => string = () => readFileSync('/proc/self/mountinfo', 'utf8')): Promise<AppCheckOutcome> {
  let request: AppCheckRequest;
  try {
    request = JSON.parse(stdin) as AppCheckRequest;
    if (typeof request.image !== 'string' || typeof request.rootfs !== 'string') throw new Error('expected { image, rootfs }');
  } catch (err) {
    return { ok: false, code: 'APP_CHECKER_CRASHED', reason: `the application image checker got a bad request: ${describeError(err)}` };
  }
  try {
    return { ok: true, verdict: await checkApplicationImage(request.image, request.rootfs, mountinfo(), deps) };
  } catch (err) {
    if (isLabError(err) && err.code.startsWith('APP_')) return { ok: false, code: err.code as AppCheckCode, reason: err.message };
    return { ok: false, code: 'APP_CHECKER_CRASHED', reason: `the application image checker failed unexpectedly: ${describeError(err)}` };
  }
}

/** Reads the checker's verdict from its result; anything but a verdict is a crash. */
export function checkerOutcome(result: { exitCode: number; stdout: Buffer; stderr: string }): AppCheckOutcome {
  const line = result.stdout.toString().trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(line) as AppCheckOutcome;
    if (result.exitCode === 0 && typeof parsed.ok === 'boolean') return parsed;
  } catch {
    // no verdict
  }
  const signal = result.exitCode >= 128 ? ' (killed by a signal)' : '';
  const stderr = result.stderr.trim().split('\n').slice(-3).join(' | ');
  return { ok: false, code: 'APP_CHECKER_CRASHED', reason: `the application image checker crashed: exit code ${result.exitCode}${signal}, no verdict${stderr ? `; stderr: ${stderr}` : ''}` };
}

/** Runs the checker process in the node (the gate daemon's side). */
export async function runAppChecker(exec: Exec, request: AppCheckRequest, checker = APP_CHECKER_PATH, timeoutMs = 120_000): Promise<AppCheckOutcome> {
  try {
    return checkerOutcome(await exec.run(['node', checker], { input: JSON.stringify(request), timeoutMs }));
  } catch (err) {
    return { ok: false, code: 'APP_CHECKER_CRASHED', reason: `the application image checker could not run to a verdict: ${describeError(err)}` };
  }
}
