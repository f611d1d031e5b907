import { fileURLToPath } from 'node:url';

/** The lab's own rules (Falco syntax, self-contained): shell in container, privileged container, sensitive mounts, sensitive reads. */
export const BUILTIN_RULES_PATH = fileURLToPath(new URL('./rules/integrity-lab.rules.yaml', import.meta.url));
