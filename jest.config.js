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
  // Four suites at a time on 2 cores: the end-to-end suites spend most of their wall time
  // waiting on servers, containers and timers (a full run is ~910 s of suite time for ~480 s of
  // CPU), and every suite starts its own PostgreSQL, S3 stand-in and ports, so they overlap
  // safely. On the idle 2-core machine: 3 workers 317 s, 4 workers 284 s for the whole npm test.
  maxWorkers: 4,
};
