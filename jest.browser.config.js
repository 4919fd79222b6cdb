/**
 * The dashboard in headless Chromium (test/browser/), apart from `npm test` so that the main
 * suite needs no browser: `npm run test:browser`. Needs Debian's chromium at /usr/bin/chromium.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/browser'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 120000,
};
