// cucumber-js configuration. The TypeScript steps load with Node 24's own
// type stripping; where Node cannot strip types, the runners register tsx
// through NODE_OPTIONS=--import tsx (lab/cli/run-dir.ts CUCUMBER_TS_ENV;
// cucumber's own `import` option is a file glob, not Node's flag).
//
// Results go to the run directory the conformance runner made
// (reports/runs/<time>-<label>/, see lab/cli/run-dir.ts), or to reports/ when
// cucumber-js is run by hand.
const out = process.env.INTEGRITY_LAB_RUN_DIR ?? 'reports';

const common = {
  import: ['steps/**/*.ts'],
  format: [
    'pretty',
    ['allure-cucumberjs/reporter', `${out}/allure-results/.formatter-output`],
    ['junit', `${out}/junit.xml`],
  ],
  formatOptions: {
    resultsDir: `${out}/allure-results`,
    junit: { suiteName: 'integrity-lab conformance' },
    // Evidence goes to the Allure report, not the terminal.
    pretty: { includeAttachments: false },
  },
  strict: true,
};

export default common;

/** `npm test`'s end-to-end part on lab nodes: scenarios tagged @smoke. */
export const smoke = { ...common, tags: '@smoke and not @kind' };

/** `npm test`'s end-to-end part on a kind cluster: @smoke scenarios of the kind substrate. */
export const kindSmoke = { ...common, tags: '@smoke and @kind' };

/** `npm run lint:features`: every step defined and unambiguous, nothing run. */
export const lint = { ...common, dryRun: true, format: ['summary'], strict: true };
