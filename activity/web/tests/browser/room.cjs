// Watch Together pages for browser tests and benchmarks: each participant is a Discord host
// page with the app in its iframe; positions are read from each page's media element against
// the machine's one clock (all pages share it), never from the sync code's own estimates.
'use strict';
const { VIEWPORTS } = require('kd-browser');

const TIMEOUT = 30000;

async function app(page) {
  await page.waitForFunction(() => window.discordHost && document.querySelector('#stage iframe'), null, { timeout: TIMEOUT });
  return (await page.$('#stage iframe')).contentFrame();
}

async function until(frame, fn, arg, what) {
  try {
    await frame.waitForFunction(fn, arg, { timeout: TIMEOUT, polling: 100 });
  } catch (err) {
    const snap = await frame.evaluate(() => window.watch && window.watch.snapshot()).catch(() => null);
    throw new Error(`${what}: ${err.message.split('\n')[0]}\n${JSON.stringify(snap)}`);
  }
}

/** Every page's media position at one instant of the machine's clock (all tabs share it). */
async function positions(frames) {
  const reads = await Promise.all(frames.map((f) => f.evaluate(() => {
    const v = document.querySelector('video');
    return { t: performance.timeOrigin + performance.now(), p: v ? v.currentTime : null, paused: v ? v.paused : null, rate: v ? v.playbackRate : 1 };
  })));
  const at = Math.max(...reads.map((r) => r.t));
  return reads.map((r) => (r.p === null ? null : r.p + (r.paused ? 0 : ((at - r.t) / 1000) * r.rate)));
}

const spread = (ps) => Math.max(...ps) - Math.min(...ps);

/** Waits until all positions are within `tolerance` seconds and advancing as `playing` says. */
async function converged(frames, playing, tolerance, what) {
  const started = Date.now();
  for (;;) {
    const ps = await positions(frames);
    const states = await Promise.all(frames.map((f) => f.evaluate(() => window.watch.snapshot().videoPaused)));
    if (ps.every((p) => p !== null) && spread(ps) <= tolerance && states.every((paused) => paused === !playing)) {
      return { ms: Date.now() - started, spread: spread(ps), positions: ps };
    }
    if (Date.now() - started > TIMEOUT) throw new Error(`${what}: not converged ${JSON.stringify({ ps, states })}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const snap = (f) => f.evaluate(() => window.watch.snapshot());

/** Waits until every page follows a timeline in `state` at `position` (the request took effect). */
async function following(frames, state, position, what) {
  for (const f of frames) {
    await until(f, ([s, p]) => {
      const t = window.watch.snapshot().timeline;
      return t && t.state === s && (p === null || Math.abs(t.position - p) < 1e-6);
    }, [state, position], what);
  }
}

/** Opens a participant's host page and waits until the app joined the room. */
async function join(browser, url, mobile, pageErrors) {
  const page = await browser.newPage(mobile ? VIEWPORTS.mobile : VIEWPORTS.desktop);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  const frame = await app(page);
  await until(frame, () => window.watch && ['video', 'no_video'].includes(window.watch.snapshot().screen), null, 'joins');
  return { page, frame };
}

module.exports = { TIMEOUT, until, positions, spread, converged, snap, following, join };
