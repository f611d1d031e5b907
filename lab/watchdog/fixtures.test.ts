import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerConfig, RunningPod } from '../cri/index.ts';
import type { LabNodeHandle } from '../node/index.ts';
import { restartContainer } from './fixtures.ts';

/** A node whose CRI records the calls a restart makes. */
function recordingNode(calls: unknown[][]): LabNodeHandle {
  const cri = {
    containerStatus: async (id: string) => ({ status: { metadata: { name: 'agent', attempt: 0 }, mounts: [], labels: { 'io.kubernetes.container.name': 'agent' }, id } }),
    stopContainer: async (...args: unknown[]) => void calls.push(['stop', ...args]),
    createContainer: async (...args: unknown[]) => (calls.push(['create', ...args]), 'new-id'),
    startContainer: async (...args: unknown[]) => void calls.push(['start', ...args]),
  };
  return { cri } as unknown as LabNodeHandle;
}

describe('restartContainer (the kubelet restarting a container on a lab node)', () => {
  it('asks CRI for the same container again: command, environment and security context kept, attempt + 1', async () => {
    const original: ContainerConfig = {
      metadata: { name: 'agent', attempt: 0 },
      image: { image: 'img' },
      command: ['/bin/agent'],
      args: ['--serve'],
      envs: [{ key: 'MODE', value: 'prod' }],
      labels: { 'io.kubernetes.container.name': 'agent' },
      logPath: 'agent/0.log',
      linux: { securityContext: { privileged: true, namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const pod = { name: 'p', namespace: 'ns', uid: 'u', sandboxId: 'sb', sandboxConfig: {}, containers: [{ name: 'agent', id: 'old-id', image: 'img', imageRef: 'ref', config: original }] } as unknown as RunningPod;
    const calls: unknown[][] = [];
    const restarted = await restartContainer(recordingNode(calls), pod);
    assert.deepEqual(calls.map((c) => c[0]), ['stop', 'create', 'start']);
    const asked = calls[1]![2] as ContainerConfig;
    assert.deepEqual({ ...asked, metadata: undefined, logPath: undefined }, { ...original, metadata: undefined, logPath: undefined });
    assert.deepEqual(asked.metadata, { name: 'agent', attempt: 1 });
    assert.equal(asked.logPath, 'agent/1.log');
    assert.equal(restarted.containers[0]!.id, 'new-id');
    assert.equal(restarted.containers[0]!.config?.metadata.attempt, 1, 'a second restart counts from this one');
  });
});
