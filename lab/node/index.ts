export { LabNode, StartedLabNode, teardownLab, listLabs, detectVerityMode, activeNodes, LAB_LABEL, STATE_ROOT } from './lab-node.ts';
export { ensureNodeImage, nodeImageTag, recipeHash } from './image.ts';
export { ensureDockerEngine, checkNodeRuntime } from './preflight.ts';
export { renderContainerdConfig, REGISTRY_HOST, CONTAINERD_SOCKET } from './containerd-config.ts';
export { findDebianMirror } from './mirror.ts';
export type { NodeStatus, PrivilegeMode } from './lab-node.ts';
export type { NodeImage } from './image.ts';
export type { NodeErrorCode } from './errors.ts';
