// cucumber-js configuration. TypeScript support comes from tsx, registered
// through NODE_OPTIONS=--import tsx by the npm scripts (cucumber's own
// `import` option is a file glob, not Node's flag).
const common = {
  import: ['steps/**/*.ts'],
  format: [
    'pretty',
    ['allure-cucumberjs/reporter', 'reports/allure-results/.formatter-output'],
    ['junit', 'reports/junit.xml'],
  ],
  formatOptions: {
    resultsDir: 'reports/allure-results',
    junit: { suiteName: 'integrity-lab conformance' },
    // Evidence goes to the Allure report, not the terminal.
    pretty: { includeAttachments: false },
  },
  strict: true,
};

export default common;

/** `npm test`'s end-to-end part: scenarios tagged @smoke. */
export const smoke = { ...common, tags: '@smoke' };

/** `npm run lint:features`: every step defined and unambiguous, nothing run. */
export const lint = { ...common, dryRun: true, format: ['summary'], strict: true };
