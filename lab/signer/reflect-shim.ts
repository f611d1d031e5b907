/**
 * @peculiar/x509 loads tsyringe, which refuses to start unless
 * `Reflect.getMetadata` exists (it expects the `reflect-metadata` package,
 * which is not installed here). tsyringe only reads and writes its own
 * metadata through these three functions, so a WeakMap-backed subset is
 * enough. Installed only when absent, so a real polyfill loaded first wins.
 */
type MetadataTarget = object;

const store = new WeakMap<MetadataTarget, Map<unknown, unknown>>();

interface ReflectMetadataSubset {
  getMetadata?(key: unknown, target: MetadataTarget): unknown;
  getOwnMetadata?(key: unknown, target: MetadataTarget): unknown;
  defineMetadata?(key: unknown, value: unknown, target: MetadataTarget): void;
}

const reflect = Reflect as unknown as ReflectMetadataSubset;

if (typeof reflect.getMetadata !== 'function') {
  const own = (key: unknown, target: MetadataTarget): unknown => store.get(target)?.get(key);
  reflect.getOwnMetadata = own;
  reflect.getMetadata = (key, target) => {
    // Walk the prototype chain like reflect-metadata does.
    for (let t: MetadataTarget | null = target; t !== null; t = Object.getPrototypeOf(t) as MetadataTarget | null) {
      const value = own(key, t);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  reflect.defineMetadata = (key, value, target) => {
    let map = store.get(target);
    if (map === undefined) store.set(target, (map = new Map()));
    map.set(key, value);
  };
}

export {};
