import { defineParameterType } from '@cucumber/cucumber';
import { MANIFEST_TAMPERINGS } from '../../lab/attacks/index.ts';
import { PAYLOAD_FORMATS } from '../../lab/signer/index.ts';

defineParameterType({
  name: 'tampering',
  regexp: /"([^"]*)"/,
  transformer: (name: string) => {
    if (!(MANIFEST_TAMPERINGS as readonly string[]).includes(name)) {
      throw new Error(`unknown manifest tampering "${name}"; known: ${MANIFEST_TAMPERINGS.join(', ')}`);
    }
    return name;
  },
});

defineParameterType({
  name: 'format',
  regexp: /"([^"]*)"/,
  transformer: (name: string) => {
    if (!(PAYLOAD_FORMATS as readonly string[]).includes(name)) throw new Error(`unknown signature format "${name}"; known: ${PAYLOAD_FORMATS.join(', ')}`);
    return name;
  },
});
