/**
 * Installs the node gates on a lab node: bundles the gates into single
 * JavaScript files for the node's Node.js, writes their configuration and
 * the lab's trusted roots, points containerd at them, and builds the
 * standard layer.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.ts';
import { waitInShell } from '../wait.ts';
import { buildTar } from '../images/index.ts';
import type { NodeBoot, NodeComponent, NodePreparation } from '../node/component.ts';
import { bundleForNode } from '../node/bundle.ts';
import type { LabNodeHandle } from '../node/handle.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { GATE_CONFIG_PATH, type GateConfig, type GateErrorCode } from './config.ts';
import { GATE_PINS_PATH, pinFiles } from './pins.ts';
import { APP_CHECKER_PATH } from './app-checker.ts';
import { LAYER_BIND, LAYER_BIND_SOURCE } from './layer-mount.ts';
import { SECCOMP_DEFAULT, buildSeccompDefault, containerdMismatch, seccompReferenceContainerd } from './seccomp-reference.ts';
import { compileStatic } from '../node/native.ts';
import { HOLD_SCRIPT, HOLD_SCRIPT_PATH, STOPPED_NOTE } from '../audit/node/start-hold.ts';
import { START_DECISION_LOG } from './start-hold-gate.ts';
import { STANDARD_LAYER_ENTRIES, STANDARD_LAYER_PATH, standardLayerMkfsArgv } from './standard-layer.ts';

export interface GateOptions {
  components: ('pull-gate' | 'start-gate')[];
  protectedNamespaces: string[];
  protectedImages: string[];
  allowedFormats: GateConfig['allowedFormats'];
  standardLayerRootHash: string;
  /** The application tier (tiers.ts); absent: no start-time check outside protectedNamespaces. */
  applicationTier?: GateConfig['applicationTier'];
  /** The profile runs the audit component: protected starts wait for its start hold, which the gate pins (start-hold-gate.ts). */
  auditStartHold?: boolean;
}

/**
 * The gates' programs on containerd's paths: one static executable
 * (native/gate-client.c) installed under three names, the name choosing
 * what it does. None is a script: a script runs whatever the node's /bin/sh
 * is, and root who replaces the shell would decide for the gates while every
 * gate file still matches its pin (`start-gate-shell-replaced`).
 */
const GATE_CLIENT = '/opt/integrity-lab/gate-client';
const RUNTIME_WRAPPER = '/usr/local/bin/integrity-runc';
const PULL_GATE = '/opt/containerd/image-verifier/bin/integrity-pull-gate';

const DAEMON_PID = '/run/integrity-lab-gate-daemon.pid';
const DAEMON_LOG = '/var/log/integrity-lab/gate-daemon.log';
/** The start gate's decisions, one JSON line each. */
export const GATE_DECISION_LOG = '/var/log/integrity-lab/gate-decisions.jsonl';
const GATE_SOCKET = '/run/integrity-lab/gate.sock';
/** Where a kind node finds the standard layer's tar at boot (written by prepare). */
const STANDARD_LAYER_TAR = '/var/lib/integrity-lab/standard-layer.tar';

/** The gate daemon as a systemd unit (kind nodes): up before containerd, so the kubelet's first container is gated. */
const DAEMON_UNIT = `[Unit]
Description=integrity-lab node gates (pull and start gate daemon)
Before=containerd.service kubelet.service

[Service]
ExecStartPre=/bin/mkdir -p /var/log/integrity-lab
ExecStart=/bin/sh -c 'echo $$$$ > ${DAEMON_PID}; exec node /opt/integrity-lab/gate-daemon.mjs >>${DAEMON_LOG} 2>&1'
Restart=always

[Install]
WantedBy=multi-user.target
`;

export function gatesComponent(options: GateOptions): NodeComponent {
  const pull = options.components.includes('pull-gate');
  const start = options.components.includes('start-gate');
  return {
    name: options.components.join('+'),
    async prepare(ctx): Promise<NodePreparation> {
      const files: NodePreparation['files'] = [];
      const config: GateConfig = {
        protectedNamespaces: options.protectedNamespaces,
        protectedImages: options.protectedImages,
        trustedRootsFile: '/etc/integrity-lab/trusted-roots.pem',
        allowedFormats: options.allowedFormats,
        standardLayer: { path: STANDARD_LAYER_PATH, rootHash: options.standardLayerRootHash },
        verityMode: 'auto',
        decisionLog: GATE_DECISION_LOG,
        runtime: '/usr/bin/runc',
        ...(options.applicationTier ? { applicationTier: options.applicationTier } : {}),
        ...(start && options.auditStartHold ? { startHold: { script: HOLD_SCRIPT_PATH, stoppedNote: STOPPED_NOTE } } : {}),
      };
      const configText = JSON.stringify(config, null, 2);
      files.push({ content: configText, target: GATE_CONFIG_PATH, mode: 0o644 });
      files.push({ content: ctx.trustedRootsPem, target: config.trustedRootsFile, mode: 0o644 });
      // The host pins what it wrote; the daemon refuses decisions on other bytes (pins.ts).
      // The audit daemon writes the hold script; the host pins the bytes it will write.
      const pinned: { path: string; content: string | Uint8Array }[] = [{ path: GATE_CONFIG_PATH, content: configText }, { path: config.trustedRootsFile, content: ctx.trustedRootsPem }];
      if (config.startHold) pinned.push({ path: config.startHold.script, content: HOLD_SCRIPT });
      // The start gate believes what layer-bind says about loop devices: pinned like the configuration.
      const layerBind = start ? await compileStatic(LAYER_BIND_SOURCE, 'layer-bind') : undefined;
      if (layerBind) pinned.push({ path: LAYER_BIND, content: await readFile(layerBind) });
      // And what its seccomp reference says containerd's RuntimeDefault profile is (built with Go from containerd's module).
      const seccompDefault = start ? await buildSeccompDefault() : undefined;
      if (seccompDefault) pinned.push({ path: SECCOMP_DEFAULT, content: await readFile(seccompDefault) });
      const pins = pinFiles(pinned, new Date());
      files.push({ content: JSON.stringify(pins, null, 2), target: GATE_PINS_PATH, mode: 0o600 });
      const plugins: string[] = [];
      // One resident daemon answers both gates through a small client.
      files.push({ source: await bundleForNode(join(import.meta.dirname, 'bin/gate-daemon.ts'), 'gate-daemon'), target: '/opt/integrity-lab/gate-daemon.mjs', mode: 0o644 });
      // The application image checker: its own process, so that a crash is one refused start (app-checker.ts).
      files.push({ source: await bundleForNode(join(import.meta.dirname, 'bin/app-check.ts'), 'app-check'), target: APP_CHECKER_PATH, mode: 0o644 });
      // Compiled on this host (cached by source hash); without a C compiler the lab does not start (NATIVE_BUILD_FAILED).
      const client = await compileStatic(join(import.meta.dirname, 'native/gate-client.c'), 'gate-client');
      files.push({ source: client, target: GATE_CLIENT, mode: 0o755 });
      if (pull) {
        files.push({ source: client, target: PULL_GATE, mode: 0o755 });
        plugins.push(`  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = '/opt/containerd/image-verifier/bin'
    max_verifiers = 10
    per_verifier_timeout = '10s'`);
      }
      if (layerBind) files.push({ source: layerBind, target: LAYER_BIND, mode: 0o755 });
      if (seccompDefault) files.push({ source: seccompDefault, target: SECCOMP_DEFAULT, mode: 0o755 });
      if (start) {
        files.push({ source: client, target: RUNTIME_WRAPPER, mode: 0o755 });
      }
      const boot: NodeBoot = { units: [{ name: 'integrity-lab-gates.service', content: DAEMON_UNIT }], commands: [] };
      if (start) {
        const tar = join(ctx.stateDir, 'standard-layer.tar');
        await writeFile(tar, buildTar(STANDARD_LAYER_ENTRIES));
        files.push({ source: tar, target: STANDARD_LAYER_TAR, mode: 0o644 });
        boot.commands.push(standardLayerMkfsArgv(STANDARD_LAYER_TAR));
      }
      return { files, containerdPlugins: plugins, boot, ...(start ? { runcOptions: { BinaryName: RUNTIME_WRAPPER } } : {}) };
    },
    async beforeStop(node: LabNodeHandle): Promise<void> {
      await node.exec.run(['sh', '-c', `test -f ${DAEMON_PID} && kill "$(cat ${DAEMON_PID})"; rm -f ${DAEMON_PID}`]);
    },
    /** Refusals logged by the gates since `since`. */
    async detections(node: LabNodeHandle, since: Date) {
      const out = [];
      const logs = [['start-gate', GATE_DECISION_LOG], ['start-gate', START_DECISION_LOG], ['pull-gate', '/var/log/integrity-lab/pull-decisions.jsonl']] as const;
      // One command for the three logs, each followed by an ASCII record separator (JSON escapes it, so no line holds it).
      const r = await node.exec.run(['sh', '-c', 'for f; do cat "$f" 2>/dev/null; printf "\\036"; done', 'sh', ...logs.map(([, log]) => log)]);
      const texts = r.stdout.toString().split('\x1e');
      for (const [i, [component]] of logs.entries()) {
        for (const line of (texts[i] ?? '').split('\n').filter(Boolean)) {
          const d = JSON.parse(line) as { time: string; action: string; reason: string };
          if (d.action === 'refuse' && new Date(d.time) >= since) out.push({ component, message: d.reason, time: d.time, data: d });
        }
      }
      return out;
    },
    /**
     * Starts the daemon and builds the standard layer, unless the node did
     * at boot (kind: `boot` above), side by side (the daemon does not read
     * the standard layer); then checks both. One command in the node, which
     * also waits there for the daemon's socket.
     */
    async afterStart(node: LabNodeHandle): Promise<void> {
      // Built at boot on a kind node; on the lab node, from the tar prepare() installed, with the same command.
      const mkfs = standardLayerMkfsArgv(STANDARD_LAYER_TAR);
      if (!mkfs.every((w) => /^[\w@%+=:,./-]+$/.test(w))) throw new LabError<GateErrorCode>('GATE_INTERNAL', `standard layer command is not shell-safe: ${mkfs.join(' ')}`);
      const started = await node.run(['sh', '-c', [
        `mkdir -p /var/log/integrity-lab`,
        `if ! test -S ${GATE_SOCKET}; then (setsid node /opt/integrity-lab/gate-daemon.mjs >>${DAEMON_LOG} 2>&1 & echo $! > ${DAEMON_PID}); fi`,
        ...(start ? [`{ test -s ${STANDARD_LAYER_PATH} || ${mkfs.join(' ')}; }`, 'containerd --version'] : []),
      ].join(' && ')]);
      if (!(await waitInShell(node.exec, `test -S ${GATE_SOCKET}`, { timeoutMs: 15_000 })).ok) {
        const log = await node.exec.run(['tail', '-n', '20', DAEMON_LOG]);
        throw new LabError<GateErrorCode>('GATE_INTERNAL', `the gate daemon on ${node.name} did not listen on ${GATE_SOCKET} within 15000 ms:\n${log.stdout.toString()}`);
      }
      if (!start) return;
      // The seccomp reference speaks for the containerd release it was built from, and only for that one.
      const mismatch = containerdMismatch(started.stdout.toString().trim().split('\n').at(-1) ?? '', await seccompReferenceContainerd());
      if (mismatch) throw new LabError<GateErrorCode>('GATE_HELPER_VERSION', `${node.name}: ${mismatch}`);
      const hash = await standardLayerRootHash(node);
      if (hash !== options.standardLayerRootHash) {
        throw new LabError<GateErrorCode>(
          'GATE_CONFIG_INVALID',
          `the standard layer built on the node has root hash ${hash}, but the profile pins ${options.standardLayerRootHash}; if the recipe changed on purpose, update spec.gates.standardLayerRootHash`,
        );
      }
    },
  };
}

/** The root hash of the standard layer on the node, hashed on the host from a copy. */
async function standardLayerRootHash(node: LabNodeHandle): Promise<string> {
  const copy = join(node.shareDir, `standard-layer-${node.name}.erofs`);
  await node.run(['cp', STANDARD_LAYER_PATH, copy]);
  const hex = (await computeRootHash(copy, DELIVERY_KIT_PARAMS)).toString('hex');
  return hex;
}
