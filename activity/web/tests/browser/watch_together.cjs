// Watch Together end to end in Chromium, through the Discord sandbox's Activity host page:
// the app in each page is the real build (served by the Activity server at the root mapping),
// on the real @discord/embedded-app-sdk and the real Kaltura player against the Kaltura sandbox.
//
// Env: HOSTS      JSON array of host page URLs, one per participant: [host, viewer, viewer, late joiner]
//                 (the first must be the first to join, so it becomes host; the second a plain viewer)
//      ENTRIES    JSON array of two entry ids: what the room starts with (its queue's newest item)
//                 is not needed here; ENTRIES[0] is expected to be queued for the skip step
//      CHROMIUM   /usr/bin/chromium;  ARTIFACTS  folder for screenshots
// Prints one JSON line (positions, convergence times, errors seen); exits 1 on a failed check.
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const hosts = JSON.parse(process.env.HOSTS);
const artifacts = process.env.ARTIFACTS;
const TIMEOUT = 30000;
const summary = { steps: [] };

function check(ok, what, detail) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
  summary.steps.push(what);
}

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

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const pageErrors = [];
  const open = async (url, mobile) => {
    const page = await browser.newPage(mobile
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 720 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    const frame = await app(page);
    await until(frame, () => window.watch && ['video', 'no_video'].includes(window.watch.snapshot().screen), null, 'joins');
    return { page, frame };
  };
  try {
    const host = await open(hosts[0], false);
    const viewer = await open(hosts[1], false);
    const third = await open(hosts[2], true);
    const all = [host, viewer, third];
    const frames = all.map((x) => x.frame);
    const ids = await Promise.all(frames.map((f) => f.evaluate(() => window.watch.snapshot().me)));
    for (const f of frames) await until(f, (n) => window.watch.snapshot().members.length >= n && window.watch.snapshot().participants.length >= n, 3, 'three members');
    const first = await snap(host.frame);
    check(first.host === ids[0], 'the first to join hosts', first.host);
    for (const f of frames) await until(f, () => window.watch.snapshot().screen === 'video', null, 'the entry loads everywhere');

    // Play: everyone starts together.
    await host.frame.evaluate(() => window.watch.play());
    await following(frames, 'playing', null, 'play');
    summary.play = await converged(frames, true, 0.1, 'play');
    // Pause: everyone stops at the same frame.
    await host.frame.evaluate(() => window.watch.pause());
    await following(frames, 'paused', null, 'pause');
    summary.pause = await converged(frames, false, 0.05, 'pause');
    // Seek while paused, then play from there.
    await host.frame.evaluate(() => window.watch.seek(30));
    await following(frames, 'paused', 30, 'seek paused');
    summary.seekPaused = await converged(frames, false, 0.05, 'seek paused');
    const ps = await positions(frames);
    check(ps.every((p) => Math.abs(p - 30) < 0.1), 'everyone lands on the seek', ps);
    await host.frame.evaluate(() => window.watch.play());
    await following(frames, 'playing', 30, 'play after seek');
    await converged(frames, true, 0.1, 'play after seek');
    await host.frame.evaluate(() => window.watch.seek(12));
    await following(frames, 'playing', 12, 'seek while playing');
    summary.seekPlaying = await converged(frames, true, 0.1, 'seek while playing');

    // A viewer without the control role cannot control.
    const before = (await snap(host.frame)).seq;
    await viewer.frame.evaluate(() => window.watch.pause());
    await until(viewer.frame, () => window.watch.snapshot().errors.some((e) => e.code === 'forbidden'), null, 'forbidden');
    const after = await snap(host.frame);
    check(after.seq === before && after.timeline.state === 'playing', 'a viewer cannot pause', after.timeline);

    await host.page.screenshot({ path: path.join(artifacts, 'watch_together_host-desktop.png') });
    await viewer.page.screenshot({ path: path.join(artifacts, 'watch_together_viewer-desktop.png') });
    await third.page.screenshot({ path: path.join(artifacts, 'watch_together_viewer-mobile.png') });

    // A late joiner lands where the room is.
    const late = await open(hosts[3], false);
    await until(late.frame, () => window.watch.snapshot().screen === 'video', null, 'late joiner loads');
    summary.lateJoin = await converged([...frames, late.frame], true, 0.1, 'late join');

    // The host changes the entry: everyone follows.
    const entryBefore = (await snap(host.frame)).entry;
    await host.frame.evaluate(() => window.watch.skip());
    await following([...frames, late.frame], 'playing', 0, 'entry change');
    for (const f of [...frames, late.frame]) {
      await until(f, (e) => window.watch.snapshot().entry && window.watch.snapshot().entry !== e && window.watch.snapshot().screen === 'video', entryBefore, 'entry change');
    }
    summary.entryChange = await converged([...frames, late.frame], true, 0.1, 'entry change');
    summary.seeks = await Promise.all([...frames, late.frame].map((f) => f.evaluate(() => window.watch.snapshot().seeks)));

    // A forged session is refused (close 4001) and the room does not notice.
    summary.forged = await viewer.frame.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(new URL('/api/watch/ws', location.href).toString().replace(/^http/, 'ws'));
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.forged' }));
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    }));
    check(summary.forged.code === 4001, 'a forged session is refused with 4001', summary.forged);

    // The host leaves: another member takes over and can control.
    await host.page.close();
    const rest = [viewer, third, late];
    for (const x of rest) await until(x.frame, (gone) => { const s = window.watch.snapshot(); return s.host && s.host !== gone; }, ids[0], 'fail-over');
    const newHost = (await snap(viewer.frame)).host;
    const heir = rest.find((x, i) => [ids[1], ids[2]][i] === newHost) || rest[0];
    summary.newHost = newHost;
    await heir.frame.evaluate(() => window.watch.pause());
    await following(rest.map((x) => x.frame), 'paused', null, 'the new host pauses');
    summary.pauseByNewHost = await converged(rest.map((x) => x.frame), false, 0.05, 'the new host pauses');
    summary.pageErrors = pageErrors;
    check(pageErrors.length === 0, 'no page errors', pageErrors);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((err) => {
  console.log(JSON.stringify(summary));
  console.error('watch together test failed:', err.message || err);
  process.exit(1);
});
