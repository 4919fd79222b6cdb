/**
 * The fault tests (`npm run test:faults`): they kill and restart the server and restart the
 * Postgres cluster, which ends every other connection to it, so they run alone, one file at a
 * time, after the main suite. They need TEST_DATABASE_URL and skip without it.
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.fault.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 180000,
  maxWorkers: 1,
};
