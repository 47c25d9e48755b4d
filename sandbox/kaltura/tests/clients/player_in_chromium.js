// The real Kaltura OVP player (npm @playkit-js/kaltura-player-js, dist/kaltura-ovp-player.js) in
// headless Chromium, pointed at the sandbox: it must load the entry and play the clip.
// Env: KALTURA_URL, KALTURA_PARTNER_ID, ENTRY_ID, PLAYER_BUNDLE, CHROMIUM.
// Prints one JSON summary line; exits 1 when the player did not play.
'use strict';
const fs = require('fs');
const http = require('http');
const { chromium } = require('playwright-core');

// The player needs a real origin (it uses localStorage), so serve the page from loopback.
function servePage() {
	const bundle = fs.readFileSync(process.env.PLAYER_BUNDLE);
	const html = '<html><body><div id="player" style="width:640px;height:360px"></div>' +
		'<script src="/kaltura-ovp-player.js"></script></body></html>';
	const server = http.createServer((req, res) => {
		if (req.url === '/kaltura-ovp-player.js') {
			res.writeHead(200, { 'Content-Type': 'application/javascript; charset=utf-8' });
			res.end(bundle);
		} else {
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			res.end(html);
		}
	});
	return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
	const server = await servePage();
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM,
		args: [
			'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			// Playwright gives the browser a fresh temporary profile of its own.
			'--autoplay-policy=no-user-gesture-required',
		],
	});
	try {
		const page = await browser.newPage();
		const requests = [];
		page.on('pageerror', (e) => console.error('pageerror:', e.message));
		page.on('request', (r) => {
			if (r.url().startsWith(process.env.KALTURA_URL)) requests.push(r.url().slice(process.env.KALTURA_URL.length));
		});
		await page.goto(`http://127.0.0.1:${server.address().port}/`);
		await page.waitForFunction(() => typeof KalturaPlayer !== 'undefined');
		const result = await page.evaluate(
			async ({ url, partnerId, entryId }) => {
				const player = KalturaPlayer.setup({
					targetId: 'player',
					provider: { partnerId, env: { serviceUrl: `${url}/api_v3`, cdnUrl: url } },
					playback: { autoplay: true, muted: true },
				});
				const played = new Promise((resolve, reject) => {
					const timer = setTimeout(() => reject(new Error(`no playback; currentTime=${player.currentTime}`)), 20000);
					player.addEventListener('timeupdate', () => {
						if (player.currentTime > 1) {
							clearTimeout(timer);
							resolve();
						}
					});
					player.addEventListener('error', (e) => {
						clearTimeout(timer);
						reject(new Error(`player error: ${JSON.stringify(e.payload || e)}`));
					});
				});
				await player.loadMedia({ entryId });
				await played;
				return {
					name: player.sources.metadata && player.sources.metadata.name,
					duration: player.duration,
					currentTime: player.currentTime,
					src: player.getVideoElement().currentSrc,
				};
			},
			{ url: process.env.KALTURA_URL, partnerId: Number(process.env.KALTURA_PARTNER_ID), entryId: process.env.ENTRY_ID },
		);
		console.log(JSON.stringify({ ...result, requests }));
	} finally {
		await browser.close();
		server.close();
	}
}

main().catch((err) => {
	console.error('player test failed:', err.message || err);
	process.exit(1);
});
