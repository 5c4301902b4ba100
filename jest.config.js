// Tests run on the compiled output (lib/), as native ES modules.
export default {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/lib/test/unit/**/*.test.js'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/lib/test/e2e/**/*.test.js'],
      maxWorkers: 1,
    },
  ],
  testTimeout: 300000,
};
