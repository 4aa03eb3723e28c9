// Three projects: unit tests are pure and fast; integration tests use real sockets on loopback;
// end-to-end tests drive the local Kubernetes cluster. `make unit` runs only the first.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } },
  ],
};
const common = { transform, extensionsToTreatAsEsm: ['.ts'], testEnvironment: 'node' };
const ignore = ['/node_modules/', '/dist/'];

export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{crds,operator,webhooks,proxy-image,cli,deploy,test/apps,scripts}/**/*.test.ts'],
      testPathIgnorePatterns: ignore,
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      testPathIgnorePatterns: ignore,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      // Raises the default timeout of every hook and test here (a project's own testTimeout is ignored by Jest).
      setupFilesAfterEnv: ['<rootDir>/test/e2e/timeout.ts'],
      testPathIgnorePatterns: ignore,
    },
  ],
};
