// A minimal Activity on the real @discord/embedded-app-sdk: the steps every Activity takes
// (ready, authorize, token exchange on its backend, authenticate), then participants, events,
// URL mapping and a websocket through the proxy. Results go to window.result for the driver.
import { DiscordSDK, patchUrlMappings } from '/sdk/index.mjs';

const out = (window.result = { steps: [], events: [], errors: [] });
const $ = (id) => document.getElementById(id);
const render = (participants) => {
  $('participants').replaceChildren(...participants.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.global_name || p.username;
    return li;
  }));
};

try {
  const cfg = await (await fetch('/config.json')).json();
  const sdk = new DiscordSDK(cfg.client_id, { disableConsoleLogOverride: false });
  out.instanceId = sdk.instanceId;
  out.query = { guild: sdk.guildId, channel: sdk.channelId, platform: sdk.platform };
  await sdk.ready();
  out.steps.push('ready');
  const { code } = await sdk.commands.authorize({
    client_id: cfg.client_id, response_type: 'code', state: '', prompt: 'none', scope: ['identify', 'guilds'],
  });
  const exchanged = await fetch('/api/token', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }),
  });
  const { access_token } = await exchanged.json();
  const auth = await sdk.commands.authenticate({ access_token });
  out.user = auth.user;
  out.scopes = auth.scopes;
  $('who').textContent = `Signed in as ${auth.user.username}`;
  const { participants } = await sdk.commands.getInstanceConnectedParticipants();
  out.participants = participants.map((p) => p.id);
  render(participants);
  await sdk.subscribe('ACTIVITY_INSTANCE_PARTICIPANTS_UPDATE', (e) => {
    out.events.push({ evt: 'participants', ids: e.participants.map((p) => p.id) });
    render(e.participants);
  });
  await sdk.subscribe('ACTIVITY_LAYOUT_MODE_UPDATE', (e) => {
    out.events.push({ evt: 'layout', mode: e.layout_mode });
    $('layout').textContent = `layout mode ${e.layout_mode}`;
  });
  await sdk.subscribe('ORIENTATION_UPDATE', (e) => out.events.push({ evt: 'orientation', value: e.screen_orientation }));
  console.log('activity up');

  await sdk.commands.authorize({ client_id: '1', response_type: 'code', scope: ['identify'] })
    .catch((e) => out.errors.push({ what: 'foreign client id', code: e.code }));
  await sdk.commands.authenticate({ access_token: 'forged' })
    .catch((e) => out.errors.push({ what: 'forged token', code: e.code }));
  await sdk.subscribe('VOICE_STATE_UPDATE', () => {}, { channel_id: sdk.channelId })
    .catch((e) => out.errors.push({ what: 'unmodelled event', code: e.code }));

  // An outside host reached through a URL mapping, as under Discord's CSP.
  patchUrlMappings([{ prefix: '/ext', target: cfg.external }]);
  out.external = await (await fetch(`http://${cfg.external}/hello`)).text();

  // The app's own websocket through the root mapping: subprotocol, echo, the server's close code.
  out.ws = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws`, ['kd.test.v1']);
    let echoed = null;
    ws.onopen = () => ws.send('ping');
    ws.onmessage = (m) => { echoed = m.data; ws.send('close'); };
    ws.onclose = (c) => resolve({ echoed, code: c.code, reason: c.reason, protocol: ws.protocol });
  });
  out.steps.push('done');
} catch (err) {
  out.failure = String((err && (err.message || JSON.stringify(err))) || err);
}
