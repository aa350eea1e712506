/**
 * The order jest hands suites to its workers: longest first, so that no long suite starts last
 * and leaves the other workers idle at the end of the run.
 *
 * Jest's own order does this only among suites it has timed before; suites it has not (a fresh
 * checkout, CI, a new file) it starts before every timed one, largest file first. Here a suite
 * without a recorded time counts as long when it is an end-to-end suite (`*.e2e.test.ts`: servers,
 * containers, schedulers, mostly waiting) and as short otherwise, so that on a fresh machine the
 * waits start first and the quick unit suites fill the gaps at the end. Suites that failed last
 * time still go first, as in jest's own order.
 */
const Sequencer = require("@jest/test-sequencer").default;

const E2E = /\.e2e\.test\.[jt]s$/;

/**
 * `tests` ({path, duration?}) failed-first, then longest first; an untimed end-to-end suite counts
 * as the longest, an untimed other suite as the shortest. Stable: ties keep the incoming order.
 */
function longestFirst(tests, failed) {
  const weight = (t) => t.duration ?? (E2E.test(t.path) ? Infinity : 0);
  const key = (t) => [failed(t) ? 1 : 0, weight(t)];
  return [...tests].sort((a, b) => {
    const [fa, wa] = key(a);
    const [fb, wb] = key(b);
    return fb - fa || (wb === wa ? 0 : wb > wa ? 1 : -1);
  });
}

class LongestFirst extends Sequencer {
  sort(tests) {
    // The default sort records each suite's last duration (from jest's cache) on `test.duration`.
    return longestFirst(super.sort(tests), (t) => this.hasFailed(t));
  }
}

module.exports = LongestFirst;
module.exports.longestFirst = longestFirst;
