export { buildTar } from './tar.ts';
export { buildImage, assembleImage, GzipMemo, deterministicBytes, sha256Digest, BUSYBOX_APPLETS, MEDIA_TYPES } from './build.ts';
export { pushImage, pushBlob, pushManifest, NodeRegistry } from './push.ts';
export type { TarEntry } from './tar.ts';
export type { BuiltImage, BuildSources, Descriptor, ImageManifest, ImageRecipe } from './build.ts';
export type { PushErrorCode } from './push.ts';
