/**
 * An OCI image layout as one tar (image-spec image-layout.md): what
 * `ctr images import` reads. Each image is named by the
 * `io.containerd.image.name` annotation of its index entry (containerd's
 * import uses it as the image name) and `org.opencontainers.image.ref.name`.
 */
import { buildTar, type TarEntry } from './tar.ts';
import { MEDIA_TYPES, type BuiltImage } from './build.ts';

/** `registry/repository:tag` of an image, as containerd names it. */
export function imageName(image: Pick<BuiltImage, 'repository' | 'tag'>, registry?: string): string {
  return `${registry ? `${registry}/` : ''}${image.repository}:${image.tag}`;
}

export function ociArchive(images: readonly { image: BuiltImage; name: string }[]): Buffer {
  const blobs = new Map<string, Buffer>();
  const manifests = [];
  for (const { image, name } of images) {
    for (const [digest, data] of image.blobs) blobs.set(digest, data);
    blobs.set(image.manifestDigest, image.manifestBytes);
    manifests.push({
      mediaType: MEDIA_TYPES.manifest,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': image.tag },
    });
  }
  const entries: TarEntry[] = [
    { type: 'file', path: '/oci-layout', content: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { type: 'file', path: '/index.json', content: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })) },
  ];
  for (const [digest, data] of blobs) entries.push({ type: 'file', path: `/blobs/sha256/${digest.replace(/^sha256:/, '')}`, content: data });
  return buildTar(entries);
}
