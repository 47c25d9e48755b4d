// Drives the Discord sandbox's Activity host page in Chromium (playwright-core) for two users of
// one voice channel; prints one JSON line of what each app and host page saw.
// Env: HOST_ANN, HOST_BOB (host page URLs; Bob's is mobile), CHROMIUM, ARTIFACTS.
'use strict';
const path = require('path');
const { launch, VIEWPORTS, run } = require('kd-browser');

const TIMEOUT = 15000;

async function appFrame(page) {
  await page.waitForFunction(() => window.discordHost && document.querySelector('#stage iframe'), null, { timeout: TIMEOUT });
  const handle = await page.$('#stage iframe');
  return handle.contentFrame();
}

async function until(page, frame, fn, arg) {
  await frame.waitForFunction(fn, arg, { timeout: TIMEOUT }).catch(async (err) => {
    const state = await frame.evaluate(() => window.result).catch(() => null);
    const host = await page.evaluate(() => ({ status: discordHost.status, error: discordHost.error })).catch(() => null);
    throw new Error(`${err.message}\napp: ${JSON.stringify(state)}\nhost: ${JSON.stringify(host)}`);
  });
}

const done = () => window.result && (window.result.steps.includes('done') || window.result.failure);

const summary = {};

async function main() {
  const browser = await launch();
  try {
    const ann = await browser.newPage(VIEWPORTS.desktop);
    const errors = [];
    ann.on('pageerror', (e) => errors.push(e.message));
    await ann.goto(process.env.HOST_ANN);
    const annApp = await appFrame(ann);
    await until(ann, annApp, done);

    const bob = await browser.newPage(VIEWPORTS.mobile);
    bob.on('pageerror', (e) => errors.push(e.message));
    await bob.goto(process.env.HOST_BOB);
    const bobApp = await appFrame(bob);
    await until(bob, bobApp, done);
    await until(ann, annApp, () => window.result.events.some((e) => e.evt === 'participants' && e.ids.length === 2));

    await ann.evaluate(() => discordHost.setLayoutMode(1));
    await until(ann, annApp, () => window.result.events.some((e) => e.evt === 'layout' && e.mode === 1));
    await ann.evaluate(() => discordHost.setLayoutMode(0));
    await bob.evaluate(() => discordHost.setOrientation('landscape'));
    await until(bob, bobApp, () => window.result.events.some((e) => e.evt === 'orientation' && e.value === 1));
    summary.bobSafeTop = await bobApp.evaluate(() =>
      getComputedStyle(document.documentElement).getPropertyValue('--discord-safe-area-inset-top').trim());

    await ann.screenshot({ path: path.join(process.env.ARTIFACTS, 'discord_activity_host-desktop.png') });
    await bob.screenshot({ path: path.join(process.env.ARTIFACTS, 'discord_activity_host-mobile.png') });

    summary.ann = await annApp.evaluate(() => window.result);
    summary.bob = await bobApp.evaluate(() => window.result);
    summary.annHost = await ann.evaluate(() => ({
      status: discordHost.status, logs: discordHost.logs, sdkVersion: discordHost.sdkVersion,
      instance: discordHost.instance.instance_id,
    }));

    await bob.evaluate(() => discordHost.leave());
    await until(ann, annApp, () => {
      const last = window.result.events.filter((e) => e.evt === 'participants').pop();
      return last && last.ids.length === 1;
    });
    summary.annEvents = await annApp.evaluate(() => window.result.events);
    await ann.evaluate(() => discordHost.leave());

    // Everyone left: launching again starts a new instance.
    await ann.goto(process.env.HOST_ANN);
    const again = await appFrame(ann);
    await until(ann, again, done);
    summary.relaunched = await again.evaluate(() => window.result.instanceId);
    summary.pageErrors = errors;
  } finally {
    await browser.close();
  }
}

run(main, summary);
