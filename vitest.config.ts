import { defineConfig } from 'vitest/config'

/** Test tiers by suffix (DESIGN.md §9); the tiers that need real services share one global set-up. */
const withServices = {
  globalSetup: ['test/setup/services.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
}

export default defineConfig({
  test: {
    // Two cores are shared by the services and the tests.
    maxWorkers: 2,
    // verbose: the CI log names every suite and adapter that ran.
    reporters: ['verbose', './test/setup/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['{gateway,events,projections,analytics,infra}/**/*.unit.test.ts', 'test/support/**/*.unit.test.ts'] } },
      { extends: true, test: { name: 'contract', include: ['test/contract/**/*.contract.test.ts'], ...withServices } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.int.test.ts'], ...withServices } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.e2e.test.ts'], ...withServices, hookTimeout: 120_000 } },
      // A real gateway (embedded adapters, mock provider) and Debian's Chromium: no shared services.
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.browser.test.ts'], globalSetup: ['test/setup/chromium.ts'], testTimeout: 120_000, hookTimeout: 180_000 } },
      // Fault tests stop and start real services: they run on their own, after every other tier (see package.json).
      { extends: true, test: { name: 'fault', include: ['test/fault/**/*.fault.test.ts'], ...withServices, fileParallelism: false, testTimeout: 180_000 } },
    ],
  },
})
