/**
 * The World of one scenario: the started lab node, the pods it runs, and the
 * last attack with its outcome. Steps store outcomes here; hooks attach the
 * evidence and tear the lab down.
 */
import { World, setWorldConstructor, type IWorldOptions } from '@cucumber/cucumber';
import type { AttackRun } from '../../lab/attacks/index.ts';
import type { RunningPod } from '../../lab/cri/index.ts';
import type { StartedLabNode } from '../../lab/node/index.ts';
import type { SignedImage, VerificationResult } from '../../lab/signer/index.ts';
import type { CosignKey } from '../../lab/trust/index.ts';
import { labState } from './state.ts';

export class LabWorld extends World {
  node?: StartedLabNode;
  readonly pods = new Map<string, RunningPod>();
  lastAttack?: AttackRun;
  /** Set when an attack ran; cleared when its outcome is asserted. */
  outcomePending = false;
  /** Images signed in this scenario, by workload name. */
  readonly signed = new Map<string, SignedImage>();
  verification?: VerificationResult;
  tampered?: { workload: string; digest: string };
  /** The public keys of the scenario's cosign signatures, by signer: the lab's own, or the vendor's (the cosign binary's). */
  readonly cosignSigners = new Map<'lab' | 'vendor', CosignKey>();
  /** The scenario's name, set by the Before hook. */
  scenarioName = '';

  constructor(options: IWorldOptions) {
    super(options);
  }

  get catalog() {
    return labState.catalog();
  }

  /** The started node, or a clear error when the scenario forgot to start one. */
  get lab(): StartedLabNode {
    if (!this.node) throw new Error('no lab node is started in this scenario: add `Given a lab node with the "vanilla" profile`');
    return this.node;
  }

  pod(workload: string): RunningPod {
    const pod = this.pods.get(workload);
    if (!pod) throw new Error(`workload "${workload}" is not running in this scenario; running: ${[...this.pods.keys()].join(', ') || '(none)'}`);
    return pod;
  }

  signedImage(workload: string): SignedImage {
    const s = this.signed.get(workload);
    if (!s) throw new Error(`the image of "${workload}" was not signed in this scenario: add \`Given the lab signs the image of "${workload}" in the "v2" format\``);
    return s;
  }

  attachJson(name: string, data: unknown): void {
    this.attach(JSON.stringify(data, null, 2), { mediaType: 'application/json', fileName: `${name}.json` });
  }

  attachText(name: string, text: string): void {
    this.attach(text, { mediaType: 'text/plain', fileName: `${name}.txt` });
  }

  // ---- admission (steps/admission.steps.ts) -------------------------------
  /** The last pod submitted the way a user would: where it runs, or who refused it. */
  submission?: import('../../lab/admission/index.ts').PodSubmission;
  /** A pod was refused and no step has asserted the refusal yet (an After hook checks). */
  refusalPending = false;
  /** Cosign key pairs made by the cosign binary in the node, by name. */
  readonly cosignKeys = new Map<string, CosignKey & { privateKeyPath: string }>();
  /** When the lab node of this scenario was ready: detections are read from here. */
  admissionSince?: Date;
  /**
   * When the scenario's lab (node or cluster) was ready. What components
   * reported before is the lab's own bring-up (on kind: the control plane's
   * static pods, the webhook's readiness probe), not the scenario's doing.
   */
  labReadyAt?: Date;

  // ---- watchdog (steps/watchdog.steps.ts) --------------------------------
  /** Benign controls and fault scenarios count watchdog alerts from here. */
  watchdogSince?: Date;
  /** df/du on the node at each step of the leftover-mounts scenario, in order. */
  readonly watchdogDisk: (import('../../lab/watchdog/index.ts').DiskUsage & { when: string })[] = [];
  /** The node process left inside a container's mount namespace. */
  namespaceHolder?: number;

  // ---- audit (steps/audit.steps.ts) --------------------------------------
  /** The last rules reload into the running audit engine, as the engine answered it. */
  auditReload?: import('../../lab/audit/index.ts').ReloadResult;
  /** The audit rules in force before that reload. */
  auditRulesBefore?: import('../../lab/audit/index.ts').RulesSummary;
  /** Lab id, node image and audit ids (one per node) of a lab this scenario tore down, to check what it left behind. */
  auditTornDown?: { labId: string; image: string; auditIds: string[] };
  /** A rules load was refused and no step has asserted the refusal yet (an After hook checks). */
  auditRefusalPending = false;
}

setWorldConstructor(LabWorld);
