import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cpuMicrosBetween, cpuMicrosPerRequest, generatorSaturated, median, parseBashTimes, parseProcStatTicks, percentOfCore, ratio, roundOrder, spread,
} from '../../bench/stats.js';
import { luaString, wrkScript } from '../../bench/wrk.js';

// A real /proc/<pid>/stat line shape; the command name holds a space and a parenthesis.
const stat = (utime: number, stime: number) =>
  `4242 (node (bench) x) S 1 4242 4242 0 -1 4194560 12345 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 98765 1234567890 23456 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 0 0 0 0 0 0`;

describe('bench arithmetic', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    assert.deepEqual(parseProcStatTicks(stat(150, 25)), { utime: 150, stime: 25 });
  });

  it('refuses text that is not a stat line', () => {
    assert.throws(() => parseProcStatTicks('no name here'));
    assert.throws(() => parseProcStatTicks('1 (x) S 1 2'));
  });

  it('turns the utime+stime delta into µs per request at 100 ticks per second', () => {
    // 300 ticks = 3 s of CPU over 60 000 requests = 50 µs each.
    assert.equal(cpuMicrosBetween(stat(100, 50), stat(350, 100)), 3_000_000);
    assert.equal(cpuMicrosPerRequest(stat(100, 50), stat(350, 100), 60_000), 50);
    assert.equal(cpuMicrosPerRequest(stat(100, 50), stat(350, 100), 0), null);
    assert.throws(() => cpuMicrosBetween(stat(350, 100), stat(100, 50)), /backwards/);
  });

  it('reads the children\'s CPU from bash\'s times builtin', () => {
    assert.deepEqual(parseBashTimes('0m0.004s 0m0.002s\n0m7.250s 1m0.500s\n'), { userSeconds: 7.25, systemSeconds: 60.5 });
    assert.throws(() => parseBashTimes('wrk: command not found\n'));
    assert.equal(percentOfCore(4.5, 9), 50);
  });

  it('takes medians of odd and even counts and reports the spread relative to the median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
    assert.deepEqual(spread([90, 110, 100]), { median: 100, min: 90, max: 110, relative: 0.2 });
  });

  it('marks a run invalid above 90% of the generator\'s core, and when the figure is missing', () => {
    assert.equal(generatorSaturated(89.9), false);
    assert.equal(generatorSaturated(90), false);
    assert.equal(generatorSaturated(90.1), true);
    assert.equal(generatorSaturated(Number.NaN), true);
    assert.equal(generatorSaturated(50, 40), true);
  });

  it('divides only known, non-zero figures', () => {
    assert.equal(ratio(50, 200), 0.25);
    assert.equal(ratio(null, 200), null);
    assert.equal(ratio(50, 0), null);
  });

  it('rotates which server goes first every round', () => {
    const kinds = ['bare', 'stack', 'rampart'];
    assert.deepEqual(roundOrder(kinds, 1), ['bare', 'stack', 'rampart']);
    assert.deepEqual(roundOrder(kinds, 2), ['stack', 'rampart', 'bare']);
    assert.deepEqual(roundOrder(kinds, 3), ['rampart', 'bare', 'stack']);
    assert.deepEqual(roundOrder(kinds, 4), kinds);
  });
});

describe('wrk script', () => {
  it('escapes quotes, backslashes and control characters in Lua strings', () => {
    assert.equal(luaString('a"b\\c\nd'), '"a\\"b\\\\c\\10d"');
    assert.equal(luaString('é'), '"\\195\\169"');
  });

  it('uses wrk\'s fixed request for one header set and a rotation for several', () => {
    const one = wrkScript({ method: 'GET', path: '/api/me', headers: [{ cookie: 's=1' }], status: 200 }, '127.0.0.1:1', false);
    assert.match(one, /wrk\.headers = \{\["Host"\] = "127\.0\.0\.1:1", \["cookie"\] = "s=1"\}/);
    assert.doesNotMatch(one, /request = function/);
    const many = wrkScript({ method: 'POST', path: '/api/posts', headers: [{ cookie: 's=1' }, { cookie: 's=2' }], body: '{}', status: 201 }, '127.0.0.1:1', true);
    assert.equal(many.match(/wrk\.format\(/g)?.length, 2);
    assert.match(many, /request = function/);
    assert.match(many, /BENCH_JSON/);
  });
});
