// Plays the Discord client for one user: launches (or joins) the app in a voice channel,
// iframes it with the query Discord adds, answers the SDK's postMessage RPC (handshake ->
// READY, commands relayed to the sandbox), and dispatches the events the app subscribed to.
// Tests drive it through `window.discordHost`.
const OP = { HANDSHAKE: 0, FRAME: 1, CLOSE: 2, HELLO: 3 };
const params = new URLSearchParams(location.search);
const userId = params.get('user_id');
const channelId = params.get('channel_id');
const platform = params.get('platform') || 'desktop';
const appPath = params.get('path') || '/';
const stage = document.getElementById('stage');
const statusLine = document.getElementById('status');
// Insets a phone's notch and home bar take (top, right, bottom, left), as the mobile client sets them.
const safeArea = (params.get('safe_area') || (platform === 'mobile' ? '47,0,34,0' : '0,0,0,0'))
  .split(',').map(Number);

const host = {
  status: 'starting', error: null, instance: null, frameId: crypto.randomUUID(),
  participants: [], subscriptions: new Set(), frames: [], logs: [], closed: null,
  layoutMode: Number(params.get('layout_mode') || 0),
  orientation: params.get('orientation') || (platform === 'mobile' ? 'portrait' : 'landscape'),
  setLayoutMode, setOrientation, leave,
};
window.discordHost = host;
if (platform === 'mobile') document.body.classList.add('mobile');

function setStatus(status, error) {
  host.status = status;
  host.error = error || null;
  statusLine.textContent = error ? `${status}: ${error}` : status;
}

async function call(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${json && json.message ? json.message : ''}`);
  return json;
}

let iframe = null;
let events = null;
let config = null;

function send(opcode, payload) {
  // After leaving, the Activity's frame is gone; late replies and events go nowhere.
  if (!iframe || !iframe.contentWindow) return;
  host.frames.push({ dir: 'to-app', opcode, payload });
  iframe.contentWindow.postMessage([opcode, payload], location.origin);
}

function dispatch(evt, data) {
  send(OP.FRAME, { cmd: 'DISPATCH', evt, nonce: null, data });
}

function notify(evt, data) {
  if (host.subscriptions.has(evt)) dispatch(evt, data);
}

const layoutData = () => ({ layout_mode: host.layoutMode });
const orientationData = () => ({
  screen_orientation: host.orientation === 'portrait' ? 0 : 1,
  orientation: host.orientation,
});

function setLayoutMode(mode) {
  host.layoutMode = mode;
  stage.dataset.layout = String(mode);
  notify('ACTIVITY_LAYOUT_MODE_UPDATE', layoutData());
}

function setOrientation(orientation) {
  host.orientation = orientation;
  notify('ORIENTATION_UPDATE', orientationData());
}

async function leave() {
  if (!host.instance) return;
  const instanceId = host.instance.instance_id;
  host.instance = null;
  if (events) events.close();
  if (iframe) iframe.remove();
  iframe = null;
  setStatus('left');
  await call('/.discord/rpc/leave', { user_id: userId, instance_id: instanceId });
}

function handshake(payload) {
  const refuse = (code, message) => { send(OP.CLOSE, { code, message }); setStatus('closed', message); };
  if (!payload || payload.v !== 1) return refuse(4004, 'Invalid version');
  if (payload.encoding && payload.encoding !== 'json') return refuse(4005, 'Invalid encoding');
  if (payload.client_id !== config.application_id) return refuse(4000, 'Invalid client id');
  if (payload.frame_id !== host.frameId) return refuse(4001, 'Invalid frame id');
  host.sdkVersion = payload.sdk_version || null;
  dispatch('READY', config.ready);
  setStatus('ready');
}

async function command(frame) {
  const { cmd, args, evt, nonce } = frame;
  const reply = (data) => send(OP.FRAME, { cmd, nonce, evt: null, data });
  if (cmd === 'CAPTURE_LOG') {
    host.logs.push(args);
    return reply(null);
  }
  let answer;
  try {
    answer = await call('/.discord/rpc/command', {
      user_id: userId, instance_id: host.instance && host.instance.instance_id,
      cmd, args: args === undefined ? null : args, evt: evt || null,
    });
  } catch (err) {
    answer = { error: { code: 4000, message: String(err.message || err) } };
  }
  if (answer.error) return send(OP.FRAME, { cmd, nonce, evt: 'ERROR', data: answer.error });
  reply(answer.data);
  if (cmd === 'SUBSCRIBE') {
    host.subscriptions.add(evt);
    // The current value follows the subscription, so the app learns its starting layout.
    if (evt === 'ACTIVITY_LAYOUT_MODE_UPDATE') dispatch(evt, layoutData());
    if (evt === 'ORIENTATION_UPDATE') dispatch(evt, orientationData());
  } else if (cmd === 'UNSUBSCRIBE') {
    host.subscriptions.delete(evt);
  }
}

window.addEventListener('message', (event) => {
  if (!iframe || event.source !== iframe.contentWindow || !Array.isArray(event.data)) return;
  const [opcode, payload] = event.data;
  host.frames.push({ dir: 'from-app', opcode, payload });
  if (opcode === OP.HANDSHAKE) handshake(payload);
  else if (opcode === OP.FRAME) command(payload);
  else if (opcode === OP.CLOSE) { host.closed = payload; setStatus('closed by the app', payload && payload.message); }
});

function applySafeArea() {
  const root = iframe.contentDocument && iframe.contentDocument.documentElement;
  if (!root) return;
  ['top', 'right', 'bottom', 'left'].forEach((side, i) =>
    root.style.setProperty(`--discord-safe-area-inset-${side}`, `${safeArea[i] || 0}px`));
}

async function start() {
  if (!userId || !channelId) throw new Error('the host page needs ?user_id=&channel_id=');
  config = await (await fetch(`/.discord/config?user_id=${encodeURIComponent(userId)}`)).json();
  host.instance = await call('/.discord/rpc/launch', { user_id: userId, channel_id: channelId });
  const location = host.instance.location;
  document.getElementById('channel').textContent = location.channel_id;
  document.getElementById('user').textContent = config.ready.user.username;
  events = new EventSource(`/.discord/rpc/participants?instance_id=${encodeURIComponent(host.instance.instance_id)}`);
  let first = true;
  events.onmessage = (message) => {
    const data = JSON.parse(message.data);
    host.participants = data.participants;
    if (!first) notify('ACTIVITY_INSTANCE_PARTICIPANTS_UPDATE', data);
    first = false;
  };
  const query = new URLSearchParams({
    frame_id: host.frameId, instance_id: host.instance.instance_id, platform,
    guild_id: location.guild_id, channel_id: location.channel_id,
    location_id: location.id, launch_id: host.instance.launch_id,
  });
  iframe = document.createElement('iframe');
  iframe.allow = 'autoplay; fullscreen; encrypted-media';
  iframe.addEventListener('load', applySafeArea);
  iframe.src = `${appPath}${appPath.includes('?') ? '&' : '?'}${query}`;
  stage.dataset.layout = String(host.layoutMode);
  stage.append(iframe);
  setStatus('loading');
  addEventListener('pagehide', () => {
    if (host.instance) {
      navigator.sendBeacon('/.discord/rpc/leave', JSON.stringify({ user_id: userId, instance_id: host.instance.instance_id }));
    }
  });
}

start().catch((err) => setStatus('failed', String(err.message || err)));
