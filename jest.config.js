/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.jest.json" }] },
  moduleNameMapper: {
    "^lifeboat-core$": "<rootDir>/core/src/index.ts",
  },
  testTimeout: 60000,
  // Longest suites first, end-to-end suites first when jest has no timings yet (a fresh machine).
  testSequencer: "<rootDir>/test/support/sequencer.js",
  // Three suites at a time on 2 cores: the end-to-end suites spend most of their wall time
  // waiting on servers, containers and timers (a 14-minute serial run used 7 minutes of CPU),
  // and every suite starts its own PostgreSQL, S3 stand-in and ports, so they overlap safely.
  // A third worker fills two workers' waits; every suite passed with three workers on this machine
  // while other test runs kept its load average at 10-15.
  maxWorkers: 3,
};
