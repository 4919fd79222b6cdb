/** Jest runs the TypeScript sources through ts-jest; types are checked by `npm run typecheck`. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The browser test needs Chromium: `npm run test:browser` (CI runs it).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/browser/'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
};
