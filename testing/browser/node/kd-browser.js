// The one way browser tests launch Chromium: the Debian build (CHROMIUM) headless, without
// anything that reaches the internet, media allowed to play without a gesture.
'use strict';
const { chromium } = require('playwright-core');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

/** A fresh browser (Playwright gives it a temporary profile of its own). */
function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM, args: ARGS });
}

/** Desktop and portrait-mobile pages, the two viewports screenshots are taken at. */
const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 720 } },
  mobile: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
};

/** Runs `main`; on failure prints the summary so far and the error, and exits 1. */
function run(main, summary) {
  main().then(() => console.log(JSON.stringify(summary)), (err) => {
    console.log(JSON.stringify(summary));
    console.error('browser script failed:', (err && err.stack) || err);
    process.exit(1);
  });
}

module.exports = { launch, VIEWPORTS, run };
