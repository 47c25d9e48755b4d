// Watch Together end to end in Chromium, through the Discord sandbox's Activity host page:
// the app in each page is the real build (served by the Activity server at the root mapping),
// on the real @discord/embedded-app-sdk and the real Kaltura player against the Kaltura sandbox.
//
// Env: HOSTS       JSON array of host page URLs, one per participant: [host, viewer, viewer
//                  (mobile), late joiner]; the first joins first, so it hosts; the second has no
//                  control role
//      NEXT_ENTRY  an entry the host queues and skips to
//      CHROMIUM, ARTIFACTS (set by kd-browser)
// Prints one JSON line (who is who, convergence times, seeks, refusals); exits 1 on a failed check.
'use strict';
const path = require('path');
const { launch, run } = require('kd-browser');
const { until, positions, converged, snap, following, join } = require('./room.cjs');

const hosts = JSON.parse(process.env.HOSTS);
const artifacts = process.env.ARTIFACTS;
const summary = { steps: [] };

function check(ok, what, detail) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
  summary.steps.push(what);
}

async function main() {
  const browser = await launch();
  const pageErrors = [];
  const open = (url, mobile) => join(browser, url, mobile, pageErrors);
  try {
    const host = await open(hosts[0], false);
    const viewer = await open(hosts[1], false);
    const third = await open(hosts[2], true);
    const all = [host, viewer, third];
    const frames = all.map((x) => x.frame);
    const ids = await Promise.all(frames.map((f) => f.evaluate(() => window.watch.snapshot().me)));
    summary.ids = ids;
    for (const f of frames) await until(f, (n) => window.watch.snapshot().members.length >= n && window.watch.snapshot().participants.length >= n, 3, 'three members');
    summary.firstHost = (await snap(host.frame)).host;
    for (const f of frames) await until(f, () => window.watch.snapshot().screen === 'video', null, 'the entry loads everywhere');
    summary.entries = [(await snap(host.frame)).entry];

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
    summary.viewerRefused = { code: 'forbidden', seqUnchanged: after.seq === before && after.timeline.state === 'playing' };

    await host.page.screenshot({ path: path.join(artifacts, 'watch_together-host-desktop.png') });
    await viewer.page.screenshot({ path: path.join(artifacts, 'watch_together-viewer-desktop.png') });
    await third.page.screenshot({ path: path.join(artifacts, 'watch_together-viewer-mobile.png') });

    // A late joiner lands where the room is.
    const late = await open(hosts[3], false);
    await until(late.frame, () => window.watch.snapshot().screen === 'video', null, 'late joiner loads');
    summary.ids.push((await snap(late.frame)).me);
    summary.lateJoin = await converged([...frames, late.frame], true, 0.1, 'late join');

    // The host changes the entry: everyone follows.
    const entryBefore = (await snap(host.frame)).entry;
    await host.frame.evaluate((entry) => window.watch.queueAdd(entry), process.env.NEXT_ENTRY);
    await until(host.frame, (entry) => window.watch.snapshot().queue.some((item) => item.entry_id === entry), process.env.NEXT_ENTRY, 'queued');
    await host.frame.evaluate(() => window.watch.skip());
    await following([...frames, late.frame], 'playing', 0, 'entry change');
    for (const f of [...frames, late.frame]) {
      await until(f, (e) => window.watch.snapshot().entry && window.watch.snapshot().entry !== e && window.watch.snapshot().screen === 'video', entryBefore, 'entry change');
    }
    summary.entryChange = await converged([...frames, late.frame], true, 0.1, 'entry change');
    summary.entries.push((await snap(host.frame)).entry);
    summary.seeks = await Promise.all([...frames, late.frame].map((f) => f.evaluate(() => window.watch.snapshot().seeks)));

    // A forged session is refused (close 4001) and the room does not notice.
    summary.forged = await viewer.frame.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(new URL('/api/watch/ws', location.href).toString().replace(/^http/, 'ws'));
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.forged' }));
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    }));

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
  } finally {
    summary.pageErrors = pageErrors;
    await browser.close();
  }
}

run(main, summary);
