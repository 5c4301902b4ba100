// Tests run on the compiled output (lib/), as native ES modules. The e2e project shares one
// cluster, so it runs in band (test/run-all.sh passes --runInBand).
export default {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/lib/test/unit/**/*.test.js'],
      roots: ['<rootDir>/lib/test/unit'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/lib/test/e2e/**/*.test.js'],
      roots: ['<rootDir>/lib/test/e2e'],
    },
  ],
  testTimeout: 300000,
};
