/**
 * The annotations containerd's CRI plugin puts on every OCI spec it writes
 * (config.json in the task's bundle). They say whether a task is a pod's
 * sandbox or one of its containers, and which pod, namespace and image it
 * belongs to: the start gate and the watchdog read them to decide which
 * tasks are protected, from containerd's record of the container rather
 * than from the bundle (lab/gates/bundle-spec.ts).
 */
export const CRI_ANNOTATIONS = {
  containerType: 'io.kubernetes.cri.container-type',
  namespace: 'io.kubernetes.cri.sandbox-namespace',
  podName: 'io.kubernetes.cri.sandbox-name',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
  /** On a sandbox: the pause image containerd runs it from. */
  sandboxImageName: 'io.kubernetes.cri.podsandbox.image-name',
} as const;
