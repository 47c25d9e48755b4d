// The Watch Together Activity: signs in through Discord, joins the instance's room on our
// server, plays the room's entry in the Kaltura player with the viewer's own KS, and follows
// the host's timeline. `window.watch` exposes state and actions to browser tests.
import './style.css';
import { Clock } from './clock';
import { clientId, Discord, type Layout, type Participant } from './discord';
import { Follower } from './follower';
import { KalturaView, type Problem } from './player';
import { ApiError, type Config, type Member, type Playback, postJson, type QueueItem, type ServerMessage, type TokenResponse } from './protocol';
import { type Connection, SyncClient } from './sync';
import { roomPosition, supersedes, type Timeline } from './timeline';
import { el, formatTime, people, queue } from './ui';

type Screen =
  | { kind: 'starting'; detail: string }
  | { kind: 'denied'; title: string; detail: string }
  | { kind: 'no_video' }
  | { kind: 'loading' }
  | { kind: 'no_permission'; detail: string }
  | { kind: 'kaltura_unreachable'; detail: string }
  | { kind: 'stopped'; title: string; detail: string }
  | { kind: 'video' };

const state = {
  screen: { kind: 'starting', detail: 'Connecting to Discord…' } as Screen,
  connection: { status: 'connecting' } as Connection,
  token: null as TokenResponse | null,
  me: '',
  timeline: null as Timeline | null,
  queue: [] as QueueItem[],
  host: null as string | null,
  members: [] as Member[],
  participants: [] as Participant[],
  config: null as Config | null,
  layout: 'focused' as Layout,
  portrait: false,
  tab: 'people' as 'people' | 'queue',
  toast: null as { text: string; action?: { label: string; run: () => void } } | null,
  errors: [] as { code: string; request?: string }[],
  mutedByBrowser: false,
};

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
let discord: Discord;
let sync: SyncClient | null = null;
let view: KalturaView;
const clock = new Clock(16);
let follower: Follower;
let loadGeneration = 0;
let toastTimer: number | undefined;

const canControl = () => Boolean(state.token?.can_control) || (state.me !== '' && state.me === state.host);

function send(message: Parameters<SyncClient['send']>[0]): void {
  sync?.send(message);
}

// --- screens and rendering -----------------------------------------------------------------

function setScreen(screen: Screen): void {
  state.screen = screen;
  renderOverlay();
}

function renderOverlay(): void {
  const overlay = $('overlay');
  const s = state.screen;
  overlay.dataset.screen = s.kind;
  const card = (title: string, detail: string, ...extra: HTMLElement[]) =>
    overlay.replaceChildren(el('div', { class: 'card' }, el('h2', {}, title), el('p', {}, detail), ...extra));
  switch (s.kind) {
    case 'starting':
      return card('Watch Together', s.detail, el('div', { class: 'spinner' }));
    case 'loading':
      return card('Loading the video…', '', el('div', { class: 'spinner' }));
    case 'denied':
    case 'stopped':
      return card(s.title, s.detail);
    case 'no_video':
      return card('Nothing is playing', 'Queue a video with /kaltura-watch or the search results\u2019 Watch button.');
    case 'no_permission':
      return card('You can\u2019t watch this video', s.detail);
    case 'kaltura_unreachable': {
      const retry = el('button', { class: 'primary', 'data-action': 'retry' }, 'Try again');
      retry.addEventListener('click', () => {
        view.unload();
        follower.detach();
        ensureEntry(state.timeline);
      });
      return card('Kaltura can\u2019t be reached', s.detail, retry);
    }
    case 'video':
      overlay.replaceChildren();
  }
}

function renderConnection(): void {
  const banner = $('connection');
  const c = state.connection;
  banner.dataset.status = c.status;
  banner.textContent = c.status === 'reconnecting' ? 'Reconnecting…' : c.status === 'connecting' && state.token ? 'Connecting…' : '';
}

function renderControls(): void {
  const controller = canControl();
  const t = state.timeline;
  $('controls').dataset.control = String(controller);
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-needs-control]')) b.disabled = !controller || !t?.entry_id;
  $('play').textContent = t?.state === 'playing' || t?.state === 'waiting' ? 'Pause' : 'Play';
  $('play').dataset.action = t?.state === 'playing' || t?.state === 'waiting' ? 'pause' : 'play';
  $<HTMLInputElement>('seekbar').disabled = !controller || !t?.entry_id;
  $('hint').textContent = controller ? '' : 'Only the host or a moderator controls playback.';
  const amHost = state.me === state.host;
  $('request-host').hidden = amHost;
  $('title').textContent = t?.title || t?.entry_id || 'Watch Together';
  $('rate').replaceChildren(
    ...[0.5, 0.75, 1, 1.25, 1.5, 2].map((r) => el('option', { value: String(r), selected: r === (t?.rate ?? 1) }, `${r}×`)),
  );
  ($('rate') as HTMLSelectElement).disabled = !controller || !t?.entry_id;
}

function renderTime(): void {
  const t = state.timeline;
  const v = follower.video;
  const position = v ? v.currentTime : (follower.target() ?? 0);
  const duration = t?.duration ?? (v && Number.isFinite(v.duration) ? v.duration : 0);
  $('time').textContent = `${formatTime(position)} / ${formatTime(duration || 0)}`;
  const bar = $<HTMLInputElement>('seekbar');
  bar.max = String(duration || 0);
  if (document.activeElement !== bar) bar.value = String(position);
  const e = follower.errorMs;
  $('sync-state').textContent = t?.state === 'waiting' ? `waiting for ${t.waiting?.pending.length ?? 0}…` : e === undefined ? '' : `${e >= 0 ? '+' : ''}${Math.round(e)} ms`;
  $('badge').textContent = state.host ? `host: ${nameOf(state.host)}` : '';
}

function nameOf(userId: string): string {
  const p = state.participants.find((x) => x.id === userId);
  return p?.nickname || p?.global_name || p?.username || state.members.find((m) => m.user_id === userId)?.name || userId;
}

function renderSide(): void {
  $('tab-people').setAttribute('aria-selected', String(state.tab === 'people'));
  $('tab-queue').setAttribute('aria-selected', String(state.tab === 'queue'));
  $('tab-queue').textContent = `Queue (${state.queue.length})`;
  const panel = $('panel');
  if (state.tab === 'people') {
    panel.replaceChildren(
      people(
        { participants: state.participants, members: state.members, host: state.host, me: state.me, canHandOver: canControl() },
        (to) => send({ type: 'handover', to }),
      ),
    );
  } else {
    panel.replaceChildren(
      queue(
        { queue: state.queue, canControl: canControl(), me: state.me, names: new Map(state.members.map((m) => [m.user_id, m.name])) },
        {
          playItem: (item_id) => send({ type: 'play_item', item_id }),
          move: (item_id, index) => send({ type: 'queue_move', item_id, index }),
          remove: (item_id) => send({ type: 'queue_remove', item_id }),
          add: (entry_id) => send({ type: 'queue_add', entry_id }),
        },
      ),
    );
  }
}

function renderToast(): void {
  const toast = $('toast');
  toast.hidden = !state.toast;
  if (!state.toast) return;
  const action = state.toast.action;
  const button = action ? el('button', { class: 'small primary', 'data-action': 'toast' }, action.label) : null;
  button?.addEventListener('click', () => {
    action!.run();
    showToast(null);
  });
  toast.replaceChildren(el('span', {}, state.toast.text), button ?? '');
}

function showToast(toast: typeof state.toast, ms = 5000): void {
  state.toast = toast;
  window.clearTimeout(toastTimer);
  if (toast) toastTimer = window.setTimeout(() => showToast(null), ms);
  renderToast();
}

function renderLayout(): void {
  document.body.dataset.layout = state.layout;
  document.body.dataset.orientation = state.portrait ? 'portrait' : 'landscape';
}

function renderAll(): void {
  renderLayout();
  renderOverlay();
  renderConnection();
  renderControls();
  renderSide();
  renderTime();
  renderToast();
}

// --- the room ------------------------------------------------------------------------------

function onMessage(message: ServerMessage): void {
  switch (message.type) {
    case 'welcome':
      state.queue = message.room.queue;
      state.host = message.room.host;
      state.members = message.room.members;
      state.config = message.config;
      state.timeline = null;
      onTimeline(message.room.timeline);
      break;
    case 'timeline':
      onTimeline(message.timeline);
      break;
    case 'queue':
      state.queue = message.queue;
      renderSide();
      break;
    case 'presence':
      state.members = message.members;
      state.host = message.host;
      renderControls();
      renderSide();
      break;
    case 'host_request':
      showToast({ text: `${message.name} asks to be host`, action: { label: 'Hand over', run: () => send({ type: 'handover', to: message.from }) } }, 15000);
      break;
    case 'error':
      state.errors.push({ code: message.code, request: message.request });
      showToast({ text: message.code === 'forbidden' ? 'Only the host or a moderator can do that.' : message.message });
      break;
  }
}

function onTimeline(timeline: Timeline): void {
  if (!supersedes(timeline, state.timeline)) return;
  state.timeline = timeline;
  ensureEntry(timeline);
  follower.apply(timeline);
  renderControls();
  renderTime();
}

/** Loads the timeline's entry when it is not the one on screen. */
async function ensureEntry(timeline: Timeline | null): Promise<void> {
  const entry = timeline?.entry_id ?? null;
  if (!entry) {
    loadGeneration++;
    view.unload();
    follower.detach();
    setScreen({ kind: 'no_video' });
    return;
  }
  if (view.entryId === entry && follower.video) return;
  const generation = ++loadGeneration;
  follower.detach();
  setScreen({ kind: 'loading' });
  try {
    const playback = await playbackFor(entry);
    if (generation !== loadGeneration) return;
    discord.mapKaltura(playback.service_url);
    const video = await view.load(entry, playback);
    if (generation !== loadGeneration) return;
    for (const event of ['playing', 'pause', 'waiting', 'seeked', 'ended']) video.addEventListener(event, reportNow);
    follower.attach(video);
    setScreen({ kind: 'video' });
  } catch (err) {
    if (generation !== loadGeneration) return;
    showProblem(problemOf(err), err instanceof Error ? err.message : String(err));
  }
}

async function playbackFor(entry: string): Promise<Playback> {
  try {
    return await postJson<Playback>('/api/watch/playback', { entry_id: entry }, state.token!.session);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_session' && (await renewSession())) {
      return postJson<Playback>('/api/watch/playback', { entry_id: entry }, state.token!.session);
    }
    throw err;
  }
}

function problemOf(err: unknown): Problem {
  if (err instanceof ApiError) {
    return ['entry_not_in_room', 'video_not_found', 'invalid_session', 'forbidden'].includes(err.code) ? 'no_permission' : 'kaltura_unreachable';
  }
  return (err as { problem?: Problem }).problem ?? 'kaltura_unreachable';
}

function showProblem(problem: Problem, detail: string): void {
  view.unload();
  follower.detach();
  setScreen(
    problem === 'no_permission'
      ? { kind: 'no_permission', detail: 'Kaltura refused to play it for you. Ask the host to pick another video.' }
      : { kind: 'kaltura_unreachable', detail: `The video service did not answer (${detail}).` },
  );
}

function report() {
  const t = state.timeline;
  const v = follower.video;
  return {
    type: 'report' as const,
    state: follower.state(),
    position: v ? v.currentTime : 0,
    ...(t ? { seq: t.seq } : {}),
    ...(follower.errorMs !== undefined && Number.isFinite(follower.errorMs) ? { error_ms: follower.errorMs } : {}),
    ...(clock.rttMs !== undefined ? { rtt_ms: clock.rttMs, jitter_ms: clock.jitterMs ?? 0 } : {}),
    activity: document.hidden ? ('away' as const) : ('active' as const),
  };
}

function reportNow(): void {
  if (sync?.connected) sync.send(report());
}

async function renewSession(): Promise<string | null> {
  try {
    state.token = await discord.signIn();
    return state.token.session;
  } catch {
    return null;
  }
}

function onConnection(c: Connection): void {
  state.connection = c;
  if (c.status === 'stopped') {
    const why: Record<number, [string, string]> = {
      4001: ['Your session was refused', 'Close and reopen the Activity to sign in again.'],
      4003: ['Please update', 'This version of the Activity is no longer supported.'],
      4009: ['Opened elsewhere', 'You joined this Activity from another window.'],
      4013: ['The room is full', 'Too many people are watching in this channel.'],
    };
    const [title, detail] = why[c.code] ?? ['Disconnected', c.reason || `closed (${c.code})`];
    if (c.code !== 1000) setScreen({ kind: 'stopped', title, detail });
  }
  renderConnection();
}

// --- controls ------------------------------------------------------------------------------

function wireControls(): void {
  $('play').addEventListener('click', () => send({ type: $('play').dataset.action === 'pause' ? 'pause' : 'play' }));
  $('back').addEventListener('click', () => seekBy(-10));
  $('forward').addEventListener('click', () => seekBy(10));
  $('skip').addEventListener('click', () => send({ type: 'skip' }));
  $('seekbar').addEventListener('change', () => send({ type: 'seek', position: Number($<HTMLInputElement>('seekbar').value) }));
  $('rate').addEventListener('change', () => send({ type: 'rate', rate: Number(($('rate') as HTMLSelectElement).value) }));
  $('sync-now').addEventListener('click', syncNow);
  $('request-host').addEventListener('click', () => {
    send({ type: 'request_host' });
    showToast({ text: 'Asked the host to hand over.' });
  });
  $('tab-people').addEventListener('click', () => ((state.tab = 'people'), renderSide()));
  $('tab-queue').addEventListener('click', () => ((state.tab = 'queue'), renderSide()));
  $('unmute').addEventListener('click', () => {
    if (follower.video) follower.video.muted = false;
    $('unmute').hidden = true;
  });
  document.addEventListener('visibilitychange', reportNow);
}

function seekBy(seconds: number): void {
  const target = follower.target();
  if (target !== undefined) send({ type: 'seek', position: Math.max(0, target + seconds) });
}

function syncNow(): void {
  sync?.resync();
  follower.syncNow();
  reportNow();
}

// --- start ---------------------------------------------------------------------------------

function wsUrl(path: string): string {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

async function start(): Promise<void> {
  try {
    discord = new Discord(clientId());
  } catch (err) {
    setScreen({ kind: 'denied', title: 'Open this inside Discord', detail: String((err as Error).message) });
    return;
  }
  if (discord.platform === 'mobile') document.body.classList.add('mobile');
  let token: TokenResponse;
  try {
    token = await discord.signIn();
  } catch (err) {
    const code = err instanceof ApiError ? err.code : 'discord';
    const text: Record<string, [string, string]> = {
      not_a_participant: ['You are not in this Activity', 'Join the voice channel\u2019s Activity to watch.'],
      watch_disabled: ['Watch Together is off', 'This server has not enabled Watch Together.'],
      instance_not_found: ['This Activity has ended', 'Start it again from the voice channel.'],
      invalid_code: ['Sign-in failed', 'Discord did not accept the sign-in; reopen the Activity.'],
      network: ['Can\u2019t reach Watch Together', 'The Activity server did not answer.'],
    };
    const [title, detail] = text[code] ?? ['Sign-in failed', err instanceof Error ? err.message : JSON.stringify(err)];
    setScreen({ kind: 'denied', title, detail });
    return;
  }
  state.token = token;
  state.me = token.user.id;
  setScreen({ kind: 'starting', detail: 'Joining the room…' });
  discord.participants((list) => ((state.participants = list), renderSide())).catch(() => {});
  discord.layout((layout) => ((state.layout = layout), renderLayout())).catch(() => {});
  discord.orientation((portrait) => ((state.portrait = portrait), renderLayout())).catch(() => {});
  sync = new SyncClient(
    wsUrl(token.ws_path),
    token.session,
    { welcome: () => {}, message: onMessage, connection: onConnection, renewSession, report },
    clock,
  );
  sync.start();
  window.setInterval(() => follower.tick(), 200);
  window.setInterval(renderTime, 250);
  addEventListener('pagehide', () => sync?.stop());
}

function boot(): void {
  view = new KalturaView($('player'), showProblem);
  follower = new Follower(clock, (seq) => send({ type: 'ready', seq }), () => {
    state.mutedByBrowser = true;
    $('unmute').hidden = false;
  });
  wireControls();
  renderAll();
  start();
}

declare global {
  interface Window {
    watch: unknown;
  }
}

/** For browser tests and benchmarks: what this client sees, and the buttons' actions. */
window.watch = {
  snapshot: () => {
    const t = state.timeline;
    const v = follower?.video;
    return {
      screen: state.screen.kind,
      connection: state.connection.status,
      me: state.me,
      role: state.token?.kaltura_role,
      canControl: canControl(),
      host: state.host,
      seq: t?.seq,
      timeline: t,
      entry: view?.entryId ?? null,
      roomPosition: t ? roomPosition(t, clock.serverNow()) : null,
      videoTime: v ? v.currentTime : null,
      videoPaused: v ? v.paused : null,
      playbackRate: v ? v.playbackRate : null,
      errorMs: follower?.errorMs ?? null,
      seeks: follower?.seeks ?? 0,
      clock: { synced: clock.synced, offset: clock.offset, rtt: clock.rttMs ?? null },
      members: state.members,
      participants: state.participants.map((p) => p.id),
      queue: state.queue,
      layout: state.layout,
      portrait: state.portrait,
      errors: state.errors,
    };
  },
  /** Server time now on this client's estimate (ms). */
  serverNow: () => clock.serverNow(),
  play: (position?: number) => send({ type: 'play', ...(position === undefined ? {} : { position }) }),
  pause: () => send({ type: 'pause' }),
  seek: (position: number) => send({ type: 'seek', position }),
  rate: (rate: number) => send({ type: 'rate', rate }),
  skip: () => send({ type: 'skip' }),
  playItem: (item_id: string) => send({ type: 'play_item', item_id }),
  queueAdd: (entry_id: string) => send({ type: 'queue_add', entry_id }),
  handover: (to: string) => send({ type: 'handover', to }),
  requestHost: () => send({ type: 'request_host' }),
  syncNow,
  leave: () => sync?.stop(),
};

boot();
