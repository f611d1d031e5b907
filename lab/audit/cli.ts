/**
 * `integrity-lab audit ...`: check rule files, read alerts, evaluate events.
 * Subcommands live in one table so more can be added without touching the
 * dispatcher.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CliIo, Command } from '../cli/command.ts';
import { describeError, LabError } from '../errors.ts';
import { parseAlertsJsonl, priorityRank } from './alerts.ts';
import { auditLogToEvents } from './auditd.ts';
import { AuditEngine, compileRuleSet, LAB_ENGINE_VERSION, readRulesFiles } from './engine.ts';
import { explainRule } from './explain.ts';
import { K8S_AUDIT_FIELDS, k8sAuditEvents } from './k8saudit.ts';
import { LAB_FIELDS, type AuditEvent } from './fields.ts';
import { parsePriority } from './loader.ts';
import { containerRules, labRules, parseRuleList } from './node/kernel-rules.ts';

interface Subcommand {
  summary: string;
  usage: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

const USAGE_ERROR = 2;

const check: Subcommand = {
  summary: 'load rule files in order as one rule set; exit 0 only if every condition compiles',
  usage: 'integrity-lab audit check [--engine-version X.Y.Z] [--quiet] [--explain RULE]... FILE...',
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { 'engine-version': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, explain: { type: 'string', multiple: true } },
    });
    if (positionals.length === 0) return usage(io, 'check', 'no rule files given');
    try {
      const sources = await readRulesFiles(positionals);
      const set = compileRuleSet(sources, { engineVersion: values['engine-version'] ?? LAB_ENGINE_VERSION });
      for (const f of set.files) io.out(`${f.file}: ${f.rules} rules, ${f.macros} macros, ${f.lists} lists`);
      if (!values.quiet) {
        if (set.unknownFields.length > 0) {
          io.err(`note: ${set.unknownFields.length} fields used by these rules are not produced by the lab and evaluate as absent: ${set.unknownFields.join(', ')}`);
        }
        for (const w of set.warnings.filter((w) => !w.startsWith('field '))) io.err(`warning: ${w}`);
      }
      for (const name of values.explain ?? []) for (const line of explainRule(set, name, { producedEventTypes: labEventTypes() }).lines) io.out(line);
      return 0;
    } catch (err) {
      io.err(`error: ${describeError(err)}`);
      return 1;
    }
  },
};

const events: Subcommand = {
  summary: "print alerts as JSON lines: a lab's alert log, a JSON-lines alerts file, or stdin",
  usage: 'integrity-lab audit events [--lab LAB_ID | --file F] [--min-priority P] [--rule NAME]',
  async run(argv, io) {
    const { values } = parseArgs({
      args: argv,
      options: { file: { type: 'string', short: 'f' }, lab: { type: 'string' }, 'min-priority': { type: 'string' }, rule: { type: 'string' } },
    });
    const min = values['min-priority'] === undefined ? undefined : parsePriority(values['min-priority']);
    if (values['min-priority'] !== undefined && !min) return usage(io, 'events', `unknown priority '${values['min-priority']}'`);
    if (values.lab !== undefined && values.file !== undefined) return usage(io, 'events', 'give --lab or --file, not both');
    try {
      let file = values.file;
      if (values.lab !== undefined) {
        const { alertLogPath } = await import('./node/component.ts');
        file = alertLogPath(values.lab);
        if (!existsSync(file)) {
          throw new LabError('AUDIT_CONFIG', `lab ${values.lab} has no audit alert log at ${file}: the lab does not exist here, or its profile has no audit component (on a kind cluster each node has its own: --lab ${values.lab}.control-plane)`);
        }
      }
      const text = await readInput(file);
      for (const alert of parseAlertsJsonl(text)) {
        if (min && priorityRank(alert.priority) > priorityRank(min)) continue;
        if (values.rule !== undefined && alert.rule !== values.rule) continue;
        io.out(JSON.stringify(alert));
      }
      return 0;
    } catch (err) {
      io.err(`error: ${describeError(err)}`);
      return 1;
    }
  },
};

const evaluate: Subcommand = {
  summary: 'evaluate events (JSON lines, an auditd log, or Kubernetes audit events) against rule files; print alerts as JSON lines',
  usage: 'integrity-lab audit eval --rules FILE [--rules FILE...] (--events F | --audit-log F | --k8s-audit F) [--hostname H]',
  async run(argv, io) {
    const { values } = parseArgs({
      args: argv,
      options: {
        rules: { type: 'string', multiple: true },
        events: { type: 'string' },
        'audit-log': { type: 'string' },
        'k8s-audit': { type: 'string' },
        hostname: { type: 'string' },
      },
    });
    const rules = values.rules ?? [];
    if (rules.length === 0) return usage(io, 'eval', 'no --rules given');
    if ([values.events, values['audit-log'], values['k8s-audit']].filter((v) => v !== undefined).length !== 1) {
      return usage(io, 'eval', 'give exactly one of --events, --audit-log and --k8s-audit');
    }
    try {
      const engine = await AuditEngine.fromFiles(rules, values.hostname === undefined ? {} : { hostname: values.hostname });
      let list: AuditEvent[];
      if (values.events !== undefined) {
        list = (await readInput(values.events))
          .split('\n')
          .map((line, i) => ({ line, i }))
          .filter(({ line }) => line.trim() !== '')
          .map(({ line, i }) => parseEventLine(line, i + 1));
      } else if (values['k8s-audit'] !== undefined) {
        // kube-apiserver's log backend (one Event per line) or a webhook backend's EventList.
        list = k8sAuditEvents(await readInput(values['k8s-audit']));
      } else {
        list = auditLogToEvents(await readInput(values['audit-log']));
      }
      for (const event of list) for (const alert of engine.evaluate(event)) io.out(JSON.stringify(alert));
      return 0;
    } catch (err) {
      io.err(`error: ${describeError(err)}`);
      return 1;
    }
  },
};

const fields: Subcommand = {
  summary: 'list the Falco fields the lab produces (syscall, then k8s_audit)',
  usage: 'integrity-lab audit fields',
  async run(_argv, io) {
    for (const [name, spec] of Object.entries(LAB_FIELDS)) {
      io.out(`${name}${spec.arg ? '[N]' : ''}\t${spec.type}\t${spec.desc}`);
    }
    io.out(`evt.arg.*\tdynamic\tSyscall arguments by name, when the source knows them`);
    io.out(`evt.rawarg.*\tdynamic\tRaw syscall arguments by name`);
    for (const [name, spec] of Object.entries(K8S_AUDIT_FIELDS)) {
      const arg = spec.arg === 'index' ? '[N]' : spec.arg === 'key' ? '[KEY]' : '';
      io.out(`${name}${arg}\t${spec.list ? 'list' : 'string'}\tk8s_audit: extracted from the audit.k8s.io/v1 Event as Falco's k8saudit/json plugins do`);
    }
    return 0;
  },
};

const kernel: Subcommand = {
  summary: "list the kernel's audit rules by lab (one-off container of the node image); --reap removes those of labs that are gone",
  usage: 'integrity-lab audit kernel [--reap] [--image IMAGE]',
  async run(argv, io) {
    const { values } = parseArgs({ args: argv, options: { reap: { type: 'boolean' }, image: { type: 'string' } } });
    try {
      const node = await import('../node/index.ts');
      const sidecar = await import('./node/sidecar.ts');
      const { HOST_AUDIT_STATE, liveAuditIdsNow } = await import('./node/component.ts');
      const image = values.image ?? (await node.nodeImageTag());
      const state = await sidecar.readKernelAuditState(image, 'audit-kernel');
      // Labs with a container, and each node of the lab's kind clusters (their rules are keyed per node).
      const live = await liveAuditIdsNow();
      const report = await sidecar.reapKernelRules(image, live, { dryRun: !values.reap, hostStateDir: HOST_AUDIT_STATE });
      io.out(JSON.stringify({ enabled: state.enabled, rules: parseRuleList(state.rulesText).map((r) => r.text), staleLabs: report.stale, removed: values.reap ? report.removed : [], auditingTurnedOff: report.disabled }));
      if (report.stale.length > 0 && !values.reap) io.err(`note: rules of ${report.stale.length} lab(s) that are gone (${report.stale.join(', ')}); remove them with --reap`);
      return 0;
    } catch (err) {
      io.err(`error: ${describeError(err)}`);
      return 1;
    }
  },
};

const SUBCOMMANDS: Record<string, Subcommand> = { check, events, eval: evaluate, fields, kernel };

/**
 * The syscall event types a lab node records: the `-S` lists of the kernel
 * rules the node side sets (read from the functions that build them, so the
 * two cannot drift), plus `container`, the CRI inventory's event.
 */
function labEventTypes(): ReadonlySet<string> {
  const args = [...labRules('explain'), ...containerRules('explain', '0'.repeat(12), { hostPid: 2, rootfsInNode: '/rootfs' }).map((r) => r.args)];
  const types = new Set<string>(['container']);
  for (const a of args) {
    for (let i = 0; i < a.length - 1; i++) if (a[i] === '-S') for (const t of a[i + 1]!.split(',')) types.add(t);
  }
  return types;
}

function usage(io: CliIo, sub: string, problem: string): number {
  io.err(`error: audit ${sub}: ${problem}`);
  io.err(`usage: ${SUBCOMMANDS[sub]?.usage ?? command.usage}`);
  return USAGE_ERROR;
}

async function readInput(file: string | undefined): Promise<string> {
  if (file === undefined || file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return readFile(file, 'utf8');
}

function parseEventLine(line: string, n: number): AuditEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new LabError('EVENT_FORMAT', `event at line ${n}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LabError('EVENT_FORMAT', `event at line ${n}: expected a JSON object of field names to values, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as AuditEvent;
}

export const command: Command = {
  name: 'audit',
  summary: 'Falco-format rules engine: check rules, evaluate events, read alerts',
  usage: [
    'integrity-lab audit <subcommand> [options]',
    '',
    ...Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(7)} ${s.summary}\n          ${s.usage}`),
  ].join('\n'),
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(command.usage);
      return sub === undefined ? USAGE_ERROR : 0;
    }
    const handler = SUBCOMMANDS[sub];
    if (!handler) {
      io.err(`error: unknown audit subcommand '${sub}': expected one of ${Object.keys(SUBCOMMANDS).join(', ')}`);
      io.err(`usage: ${command.usage.split('\n')[0]}`);
      return USAGE_ERROR;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(handler.usage);
      return 0;
    }
    try {
      return await handler.run(rest, io);
    } catch (err) {
      // parseArgs rejects unknown options with a TypeError carrying an ERR_PARSE_ARGS_* code.
      if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return usage(io, sub, (err as Error).message);
      throw err;
    }
  },
};
