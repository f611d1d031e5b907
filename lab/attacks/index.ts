export { classifyOutcome } from './outcome.ts';
export { tamperLayerFile, rootLowerdirs } from './layer-file-tamper.ts';
export type { Detection, AttackObservation } from './outcome.ts';
export type { AttackErrorCode, TamperEvidence, TamperResult } from './layer-file-tamper.ts';
export { runAttack } from './run.ts';
export type { AttackRun } from './run.ts';
export { tamperManifest, MANIFEST_TAMPERINGS } from './manifest-tamper.ts';
export type { ManifestTampering, TamperedManifest, ManifestTamperErrorCode } from './manifest-tamper.ts';
