// Drives the console of `kaltura-discord up` in Chromium (playwright-core) as a member of
// Physics 101: runs /kaltura-video-search through the composer (command suggestion, option,
// Enter), presses Watch on the first result, follows Watch Together into the Activity host page
// and plays the video; then has Kaltura publish a recording from the Kaltura panel and waits for
// its notification in the rule's channel. Prints one JSON line of what it saw; screenshots go
// to ARTIFACTS.
// Env: CONSOLE (the console URL), CHROMIUM, ARTIFACTS, COMMAND (the command's name).
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const TIMEOUT = 30000;

/** Waits for `fn` in the app's frame; a timeout says what the app saw. */
async function until(app, fn, what) {
  try {
    await app.waitForFunction(fn, null, { timeout: TIMEOUT, polling: 100 });
  } catch (err) {
    const snap = await app.evaluate(() => window.watch && window.watch.snapshot()).catch(() => null);
    throw new Error(`${what}: ${err.message.split('\n')[0]} ${JSON.stringify(snap)}`);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const seen = { errors: [] };
  const shot = (page, step) => page.screenshot({ path: path.join(process.env.ARTIFACTS, `up_console_${step}_desktop.png`) });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (e) => seen.errors.push(e.message));
    await page.goto(process.env.CONSOLE);
    await page.waitForSelector('body[data-ready="true"]', { timeout: TIMEOUT });
    await page.click('#guilds button[title="Physics 101"]');
    await page.waitForSelector('#channels [data-name="general"].active', { timeout: TIMEOUT });
    const member = await page.$eval('#member', (select) => [...select.options].find((o) => o.textContent === 'member').value);
    await page.selectOption('#member', member);
    seen.member = member;
    await shot(page, 'start');

    const command = process.env.COMMAND;
    await page.click('#composer');
    await page.keyboard.type(`/${command.slice(0, 12)}`);
    await page.waitForSelector(`#suggestions li[data-value="/${command} "]`, { timeout: TIMEOUT });
    seen.suggested = await page.$$eval('#suggestions li strong', (items) => items.map((i) => i.textContent));
    await page.click(`#suggestions li[data-value="/${command} "]`);
    await page.waitForFunction(() => document.getElementById('hint').textContent.includes('query:'), null, { timeout: TIMEOUT });
    seen.hint = await page.textContent('#hint');
    await page.keyboard.type('query:Lecture');
    await page.keyboard.press('Enter');
    const reply = await page.waitForSelector('#messages .message:has(button.button[data-custom-id^="kd:watch:"])', { timeout: TIMEOUT });
    seen.reply = await reply.evaluate((li) => ({
      used: li.querySelector('.used')?.textContent || '',
      text: li.textContent,
      buttons: [...li.querySelectorAll('button.button')].map((b) => b.textContent),
    }));
    await shot(page, 'search');

    await reply.$eval('button.button[data-custom-id^="kd:watch:"]', (b) => b.click());
    await page.waitForSelector('#activity:not([hidden])', { timeout: TIMEOUT });
    const host = await (await page.$('#activity-frame')).contentFrame();
    await host.waitForFunction(() => window.discordHost && window.discordHost.instance, null, { timeout: TIMEOUT });
    seen.activity = await host.evaluate(() => ({
      status: window.discordHost.status,
      error: window.discordHost.error,
      instance: window.discordHost.instance.instance_id,
      channel: window.discordHost.instance.location.channel_id,
      participants: window.discordHost.participants,
    }));
    seen.activityChannel = await page.$eval('#activity', (s) => s.dataset.channel);
    await host.waitForSelector('#stage iframe', { timeout: TIMEOUT });
    const app = await (await host.$('#stage iframe')).contentFrame();
    await until(app, () => window.watch && window.watch.snapshot().screen === 'video', 'the player is shown');
    await app.evaluate(() => window.watch.play());
    // Playing: the media element runs and its time moves on.
    await until(app, () => {
      const s = window.watch.snapshot();
      return s.videoPaused === false && s.videoTime > 1;
    }, 'the video plays');
    seen.player = await app.evaluate(() => {
      const s = window.watch.snapshot();
      return { entry: s.entry, paused: s.videoPaused, time: s.videoTime, state: s.timeline && s.timeline.state, errors: s.errors };
    });
    await shot(page, 'watch');

    await page.click('#close-activity');
    const rule = '#kaltura-events .rule[data-rule="physics-101-recordings"]';
    // An upload's entry ready, then a recording ready: each arrives in the rule's channel.
    const arrival = async (event, name) => {
      await page.click(`${rule} button[data-event="${event}"]`, { timeout: TIMEOUT });
      await page.waitForSelector('#channels [data-name="recordings"].active', { timeout: TIMEOUT });
      const note = await page.waitForSelector(`#messages .message:has-text("${name}")`, { timeout: TIMEOUT });
      return note.evaluate((li) => ({
        text: li.textContent,
        buttons: [...li.querySelectorAll('button.button')].map((b) => b.textContent),
      }));
    };
    seen.entryReady = await arrival('entryReady', 'Upload 1 from the console');
    seen.recordingReady = await arrival('recordingReady', 'Recording 2 from the console');
    seen.kalturaLog = await page.textContent('#kaltura-log');
    await shot(page, 'notification');
  } catch (err) {
    seen.failure = err.message;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main();
