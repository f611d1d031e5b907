/**
 * Label selectors (Kubernetes `metav1.LabelSelector`, see
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements)
 * and Deckhouse's namespace selector (`matchNames` / `excludeNames` globs or
 * a `labelSelector`, admission-policy-engine CRDs).
 *
 * Semantics follow apimachinery's `LabelSelectorAsSelector`: requirements are
 * ANDed; an empty selector matches everything; `NotIn` and `DoesNotExist`
 * match when the key is absent.
 */
import { anyGlobMatch } from './glob.ts';

export type Labels = Readonly<Record<string, string>>;

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface NamespaceSelector {
  matchNames?: string[];
  excludeNames?: string[];
  labelSelector?: LabelSelector;
}

/** True when `labels` satisfy every requirement of `selector`. */
export function matchesLabelSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = has ? labels[req.key] : undefined;
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        // An operator the schema did not let through: fail closed, match nothing.
        return false;
    }
  }
  return true;
}

/** Deckhouse namespace selector: names by glob, or by labels. */
export function matchesNamespaceSelector(selector: NamespaceSelector | undefined, name: string, labels: Labels): boolean {
  if (selector === undefined) return true;
  if (selector.matchNames !== undefined && !anyGlobMatch(selector.matchNames, name)) return false;
  if (selector.excludeNames !== undefined && anyGlobMatch(selector.excludeNames, name)) return false;
  if (selector.labelSelector !== undefined && !matchesLabelSelector(selector.labelSelector, labels)) return false;
  return true;
}
