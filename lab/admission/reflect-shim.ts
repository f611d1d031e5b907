/**
 * @peculiar/x509 loads tsyringe, which refuses to start without
 * `Reflect.getMetadata` (the `reflect-metadata` package is not installed).
 * tsyringe only uses these three functions on its own metadata, so a
 * WeakMap-backed subset is enough. Installed only when absent, so a real
 * polyfill (or lab/signer's identical shim) loaded first wins.
 */
type Target = object;

interface ReflectMetadataSubset {
  getMetadata?(key: unknown, target: Target): unknown;
  getOwnMetadata?(key: unknown, target: Target): unknown;
  defineMetadata?(key: unknown, value: unknown, target: Target): void;
}

const reflect = Reflect as unknown as ReflectMetadataSubset;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<unknown, unknown>>();
  const own = (key: unknown, target: Target): unknown => store.get(target)?.get(key);
  reflect.getOwnMetadata = own;
  reflect.getMetadata = (key, target) => {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
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
