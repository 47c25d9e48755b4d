// The real Kaltura OVP player (npm @playkit-js/kaltura-player-js, dist/kaltura-ovp-player.js) in
// headless Chromium, pointed at the sandbox with a KS: EXPECT=play must load the entry and play
// its clip; EXPECT=blocked must end in the player's error for a refused entry.
// Env: KALTURA_URL, KALTURA_PARTNER_ID, ENTRY_ID, KS, EXPECT, SCREENSHOT, PLAYER_BUNDLE, and
// CHROMIUM (set by kd-browser).
// Prints one JSON summary line; exits 1 when the expectation failed.
'use strict';
const fs = require('fs');
const http = require('http');
const { launch, run } = require('kd-browser');

// The player needs a real origin (it uses localStorage), so serve the page from loopback.
function servePage() {
	const bundle = fs.readFileSync(process.env.PLAYER_BUNDLE);
	const html = '<html><body style="margin:0;background:#000"><div id="player" style="width:640px;height:360px"></div>' +
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

const summary = {};

async function main() {
	const server = await servePage();
	const browser = await launch();
	try {
		const page = await browser.newPage({ viewport: { width: 640, height: 360 } });
		const requests = [];
		page.on('pageerror', (e) => console.error('pageerror:', e.message));
		page.on('request', (r) => {
			if (r.url().startsWith(process.env.KALTURA_URL)) requests.push(r.url().slice(process.env.KALTURA_URL.length).split('?')[0]);
		});
		await page.goto(`http://127.0.0.1:${server.address().port}/`);
		await page.waitForFunction(() => typeof KalturaPlayer !== 'undefined');
		const result = await page.evaluate(
			async ({ url, partnerId, entryId, ks, expect }) => {
				const player = KalturaPlayer.setup({
					targetId: 'player',
					provider: { partnerId, ks, env: { serviceUrl: `${url}/api_v3`, cdnUrl: url } },
					playback: { autoplay: true, muted: true },
				});
				const outcome = new Promise((resolve, reject) => {
					const timer = setTimeout(() => reject(new Error(`nothing happened; currentTime=${player.currentTime}`)), 20000);
					player.addEventListener('timeupdate', () => {
						if (player.currentTime > 1.5) {
							clearTimeout(timer);
							resolve({ played: true });
						}
					});
					player.addEventListener('error', (e) => {
						clearTimeout(timer);
						// LOAD_FAILED (7002) wraps the provider's error, e.g. BLOCK_ACTION (2001) with Kaltura's messages.
						const p = e.payload || {};
						const cause = p.data || {};
						resolve({
							played: false, code: p.code, category: p.category,
							cause: { code: cause.code, messages: cause.data && cause.data.messages },
						});
					});
				});
				await player.loadMedia({ entryId }).catch(() => {});
				const seen = await outcome;
				if (expect === 'play' && !seen.played) throw new Error(`player error: ${JSON.stringify(seen)}`);
				if (expect === 'blocked' && seen.played) throw new Error('a refused entry played');
				if (seen.played) player.pause();
				return {
					...seen,
					name: player.sources.metadata && player.sources.metadata.name,
					duration: player.duration,
					currentTime: player.currentTime,
					src: seen.played ? player.getVideoElement().currentSrc : null,
				};
			},
			{
				url: process.env.KALTURA_URL, partnerId: Number(process.env.KALTURA_PARTNER_ID),
				entryId: process.env.ENTRY_ID, ks: process.env.KS, expect: process.env.EXPECT || 'play',
			},
		);
		if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
		Object.assign(summary, result, { requests });
	} finally {
		await browser.close();
		server.close();
	}
}

run(main, summary);
