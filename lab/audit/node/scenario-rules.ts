/**
 * Rules a scenario declares: Falco rules files in scenarios/audit-rules/,
 * named by their path below that folder without `.yaml`
 * (`scenarios/audit-rules/apps-shell.yaml` is "apps-shell",
 * `scenarios/audit-rules/invalid/syntax-error.yaml` is
 * "invalid/syntax-error"). They stay in Falco's own format, so that
 * `falco -r` and `integrity-lab audit check` read them as they are.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LabError } from '../../errors.ts';
import type { AuditErrorCode } from '../errors.ts';
import type { RulesSource } from '../loader.ts';

export const SCENARIO_RULES_FOLDER = 'audit-rules';

/** Every rules name under <scenariosDir>/audit-rules, sorted. */
export async function scenarioRuleNames(scenariosDir: string): Promise<string[]> {
  const root = join(scenariosDir, SCENARIO_RULES_FOLDER);
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (/\.ya?ml$/.test(e.name)) out.push(relative(root, path).replace(/\.ya?ml$/, ''));
    }
  };
  await walk(root);
  return out.sort();
}

/**
 * Reads the named rules files. The source name is the file's path relative
 * to the project root, so errors point at it. Unknown names fail with the
 * list of known ones.
 */
export async function loadScenarioRules(scenariosDir: string, names: readonly string[], projectRoot = join(scenariosDir, '..')): Promise<RulesSource[]> {
  const known = await scenarioRuleNames(scenariosDir);
  const out: RulesSource[] = [];
  for (const name of names) {
    if (!known.includes(name)) {
      throw new LabError<AuditErrorCode>(
        'AUDIT_RULES_UNKNOWN',
        `no audit rules named "${name}" in ${join(scenariosDir, SCENARIO_RULES_FOLDER)}; known: ${known.join(', ') || '(none)'}`,
      );
    }
    for (const ext of ['.yaml', '.yml']) {
      const path = join(scenariosDir, SCENARIO_RULES_FOLDER, name + ext);
      const content = await readFile(path, 'utf8').catch(() => undefined);
      if (content !== undefined) {
        out.push({ name: relative(projectRoot, path), content });
        break;
      }
    }
  }
  return out;
}
