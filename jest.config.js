/** Jest runs the TypeScript sources through ts-jest; types are checked by `npm run typecheck`. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The browser test needs Chromium: `npm run test:browser` (CI runs it).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/browser/'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // ES-module-only packages (the Parquet writer and reader): see test/helpers/esm-transform.js.
    '/node_modules/hyparquet(-writer)?/.+\\.js$': '<rootDir>/test/helpers/esm-transform.js',
  },
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-writer)/)'],
  testTimeout: 60000,
};
