/**
 * The integrity components a lab profile names, as node components. This is
 * the one place that maps profile YAML to reference implementations; users
 * can swap in their own by providing another NodeComponent.
 */
import { LabError } from './errors.ts';
import { gatesComponent } from './gates/component.ts';
import { admissionComponent } from './admission/index.ts';
import { auditComponent } from './audit/index.ts';
import type { NodeComponent } from './node/component.ts';
import { watchdogComponent } from './watchdog/index.ts';
import type { LabProfile } from './spec/schemas.ts';

export function componentsFor(profile: LabProfile): NodeComponent[] {
  const wanted = profile.spec.components;
  const out: NodeComponent[] = [];
  const gates = wanted.filter((c) => c === 'pull-gate' || c === 'start-gate') as ('pull-gate' | 'start-gate')[];
  if (gates.length > 0) {
    const g = profile.spec.gates;
    if (!g) {
      throw new LabError('SPEC_SEMANTIC', `lab profile "${profile.metadata.name}": spec.gates is required when spec.components lists ${gates.join(', ')}`);
    }
    out.push(gatesComponent({ components: gates, ...g, auditStartHold: (wanted as readonly string[]).includes('audit') }));
  }
  // admission: the webhook in the node, policies from scenarios/policies (lab/admission/component.ts).
  if ((wanted as readonly string[]).includes('admission')) out.push(admissionComponent());
  // watchdog: the mount watchdog daemon in the node (lab/watchdog/component.ts), settings in spec.watchdog.
  if ((wanted as readonly string[]).includes('watchdog')) {
    if (!profile.spec.watchdog) throw new LabError('SPEC_SEMANTIC', `lab profile "${profile.metadata.name}": spec.watchdog is required when spec.components lists watchdog`);
    out.push(watchdogComponent(profile.spec.watchdog));
  }
  // audit: the Falco-style rules engine in a sidecar beside the node (lab/audit/node/component.ts).
  if ((wanted as readonly string[]).includes('audit')) out.push(auditComponent());
  return out;
}
