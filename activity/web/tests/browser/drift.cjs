// The drift benchmark's browser side: N participants through the Discord sandbox's host page,
// each playing the room's entry in the real Kaltura player. Positions come from each page's media
// element against the machine's one clock (positions() in room.cjs), never from the sync code.
//
// Env: HOSTS           JSON array of host page URLs: [host, viewers..., late joiner]
//      STEADY_SECONDS  how long the steady state is sampled (default 20)
//      CHROMIUM, ARTIFACTS (set by kd-browser)
// Prints one JSON line: pairwise differences in steady state (ms), convergence after seeks and
// after a join (ms), and how many seeks the followers made on their own in steady state.
'use strict';
const path = require('path');
const { launch, run } = require('kd-browser');
const { TIMEOUT, until, positions, snap, following, join } = require('./room.cjs');

const hosts = JSON.parse(process.env.HOSTS);
const STEADY_MS = 1000 * Number(process.env.STEADY_SECONDS || 20);
/** Converged: every pair within this, and staying so for HOLD_MS. */
const CONVERGED_MS = 50;
const HOLD_MS = 1000;
const summary = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pairwise(ps) {
  const out = [];
  for (let i = 0; i < ps.length; i += 1) for (let j = i + 1; j < ps.length; j += 1) out.push(Math.abs(ps[i] - ps[j]) * 1000);
  return out;
}

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const at = (p) => v[Math.min(v.length - 1, Math.floor((v.length - 1) * p))];
  const round = (x) => Math.round(x * 10) / 10;
  return { n: v.length, p50: round(at(0.5)), p95: round(at(0.95)), max: round(v[v.length - 1]) };
}

/** Time from `since` (ms, machine clock) until every pair stays within CONVERGED_MS for HOLD_MS. */
async function convergence(frames, since, what) {
  let firstOk = null;
  for (;;) {
    const ps = await positions(frames);
    const playing = await Promise.all(frames.map((f) => f.evaluate(() => window.watch.snapshot().videoPaused === false)));
    const ok = ps.every((p) => p !== null) && playing.every(Boolean) && Math.max(...pairwise(ps)) <= CONVERGED_MS;
    const now = Date.now();
    if (!ok) firstOk = null;
    else if (firstOk === null) firstOk = now;
    else if (now - firstOk >= HOLD_MS) return firstOk - since;
    if (now - since > TIMEOUT) throw new Error(`${what}: not converged ${JSON.stringify(ps)}`);
    await sleep(50);
  }
}

const seeks = (frames) => Promise.all(frames.map((f) => f.evaluate(() => window.watch.snapshot().seeks)));
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

async function main() {
  const browser = await launch();
  const pageErrors = [];
  try {
    const people = [];
    for (const url of hosts.slice(0, -1)) people.push(await join(browser, url, false, pageErrors));
    const frames = people.map((x) => x.frame);
    for (const f of frames) await until(f, () => window.watch.snapshot().screen === 'video', null, 'the entry loads');
    const host = frames[0];

    await host.evaluate(() => window.watch.play());
    await following(frames, 'playing', null, 'play');
    summary.startMs = await convergence(frames, Date.now(), 'start');

    // Steady state: sample every pair for STEADY_MS.
    const seeksBefore = sum(await seeks(frames));
    const diffs = [];
    const started = Date.now();
    while (Date.now() - started < STEADY_MS) {
      diffs.push(...pairwise(await positions(frames)));
      await sleep(100);
    }
    summary.steady = stats(diffs);
    summary.steadySeeks = sum(await seeks(frames)) - seeksBefore;
    const snaps = await Promise.all(frames.map(snap));
    summary.rttMs = snaps.map((s) => s.clock.rtt && Math.round(s.clock.rtt));
    await people[1].page.screenshot({ path: path.join(process.env.ARTIFACTS, 'watch_drift-desktop.png') });

    // Convergence after a seek while playing, a few times.
    summary.afterSeekMs = [];
    // (The clips are 60 to 120 s long: the join below still finds the entry playing.)
    for (const to of [40, 15, 10]) {
      const since = Date.now();
      await host.evaluate((p) => window.watch.seek(p), to);
      await following(frames, 'playing', to, `seek to ${to}`);
      summary.afterSeekMs.push(await convergence(frames, since, `seek to ${to}`));
    }

    // Convergence after a join: from opening the page, and from its video being ready.
    const since = Date.now();
    const late = await join(browser, hosts[hosts.length - 1], false, pageErrors);
    await until(late.frame, () => window.watch.snapshot().screen === 'video' && window.watch.snapshot().videoTime !== null, null, 'the late joiner loads');
    const ready = Date.now();
    const all = [...frames, late.frame];
    const fromOpen = await convergence(all, since, 'late join');
    summary.afterJoinMs = { fromOpen, fromVideo: Math.max(0, fromOpen - (ready - since)) };
  } finally {
    summary.pageErrors = pageErrors;
    await browser.close();
  }
}

run(main, summary);
