/**
 * Checks Kubernetes objects embedded in scenario files (a Workload's
 * `spec.pod` or `spec.manifest`) against the Kubernetes API schema, as the
 * apiserver would with strict field validation (`kubectl --validate=strict`):
 *
 * - types, required fields, enums and quantities: the validators of
 *   `kubernetes-models`, compiled from the Kubernetes OpenAPI document;
 * - unknown fields: the field lists of `@kubernetes/client-node`'s models
 *   (the OpenAPI document allows unknown fields; the apiserver's strict
 *   validation does not, and a misspelt field would otherwise be ignored).
 *
 * Both libraries are loaded on first use (about 0.4 s), so that loading
 * scenarios without embedded objects costs nothing.
 */

/** The Kubernetes types a scenario may embed. */
export type KubernetesKind = 'PodTemplateSpec' | 'Pod' | 'Deployment';

const MODELS: Record<KubernetesKind, { schema: string; model: string; title: string }> = {
  PodTemplateSpec: { schema: 'IoK8sApiCoreV1PodTemplateSpec', model: 'V1PodTemplateSpec', title: 'core/v1 PodTemplateSpec' },
  Pod: { schema: 'IoK8sApiCoreV1Pod', model: 'V1Pod', title: 'core/v1 Pod' },
  Deployment: { schema: 'IoK8sApiAppsV1Deployment', model: 'V1Deployment', title: 'apps/v1 Deployment' },
};

/** A problem in an embedded object: a JSON pointer relative to it, and a message that names the field. */
export interface KubernetesProblem {
  pointer: string;
  message: string;
}

interface AjvLikeError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}
type Validate = ((data: unknown) => boolean) & { errors?: AjvLikeError[] | null };
interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const validators = new Map<KubernetesKind, Validate>();
let models: Record<string, unknown> | undefined;

async function validatorFor(kind: KubernetesKind): Promise<Validate> {
  let v = validators.get(kind);
  if (!v) {
    v = ((await import(`kubernetes-models/_schemas/${MODELS[kind].schema}`)) as { validate: Validate }).validate;
    validators.set(kind, v);
  }
  return v;
}

async function modelClasses(): Promise<Record<string, unknown>> {
  // The models barrel alone, not the client's index (which loads its HTTP stack).
  models ??= (await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js')) as Record<string, unknown>;
  return models;
}

function modelOf(all: Record<string, unknown>, type: string): ModelClass | undefined {
  const m = all[type] as Partial<ModelClass> | undefined;
  return typeof m?.getAttributeTypeMap === 'function' ? (m as ModelClass) : undefined;
}

function titleOf(type: string): string {
  // V1Container → core/v1 Container (the models' own naming; apps types are named the same way)
  const m = /^V(\d+)(.+)$/.exec(type);
  return m ? `v${m[1]} ${m[2]}` : type;
}

/** The first field the model does not know, depth first; arrays and maps are walked into. */
function firstUnknownField(all: Record<string, unknown>, type: string, value: unknown, pointer: string): KubernetesProblem | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return undefined;
    for (const [i, item] of value.entries()) {
      const p = firstUnknownField(all, array[1]!, item, `${pointer}/${i}`);
      if (p) return p;
    }
    return undefined;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, item] of Object.entries(value)) {
      const p = firstUnknownField(all, map[1]!, item, `${pointer}/${k}`);
      if (p) return p;
    }
    return undefined;
  }
  const model = modelOf(all, type);
  if (!model || Array.isArray(value)) return undefined;
  const attributes = model.getAttributeTypeMap();
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) {
      return { pointer: `${pointer}/${key}`, message: `is not a field of Kubernetes ${titleOf(type)} (the apiserver's strict field validation refuses it)` };
    }
    const p = firstUnknownField(all, attribute.type, item, `${pointer}/${key}`);
    if (p) return p;
  }
  return undefined;
}

function messageOf(err: AjvLikeError): string {
  switch (err.keyword) {
    case 'required':
      return `is required`;
    case 'type':
      return `should be of type ${String(err.params['type'])}`;
    case 'enum':
      return `should be one of ${(err.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'format':
      return `should be a Kubernetes ${String(err.params['format'])}`;
    default:
      return err.message ?? `is invalid (${err.keyword})`;
  }
}

/**
 * The first problem in `value` as a Kubernetes object of `kind`, or
 * undefined. Schema errors come before unknown fields.
 */
export async function checkKubernetesObject(kind: KubernetesKind, value: unknown): Promise<KubernetesProblem | undefined> {
  const validate = await validatorFor(kind);
  if (!validate(value)) {
    const errors = validate.errors ?? [];
    // A quantity that is neither a number nor a quantity string fails `type`, `format` and `oneOf`: report the format.
    const err = errors.find((e) => e.keyword === 'format') ?? errors.find((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf') ?? errors[0];
    if (err) {
      const pointer = err.keyword === 'required' ? `${err.instancePath}/${String(err.params['missingProperty'])}` : err.instancePath;
      return { pointer, message: `${messageOf(err)} (Kubernetes ${MODELS[kind].title} schema)` };
    }
  }
  return firstUnknownField(await modelClasses(), MODELS[kind].model, value, '');
}
