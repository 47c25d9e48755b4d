// DOM rendering in Discord's look: small functions from state to elements, no framework.
import type { Participant } from './discord';
import type { Member, QueueItem } from './protocol';
import { formatTime } from './timeline';

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** "behind 320 ms" / "ahead 1.2 s" once an error is noticeable, else nothing. */
export function driftMark(errorMs: number | undefined): { text: string; level: 'ok' | 'warn' | 'bad' } | null {
  if (errorMs === undefined || Math.abs(errorMs) < 100) return null;
  const size = Math.abs(errorMs);
  const amount = size >= 1000 ? `${(size / 1000).toFixed(1)} s` : `${Math.round(size)} ms`;
  return { text: `${errorMs < 0 ? 'behind' : 'ahead'} ${amount}`, level: size >= 400 ? 'bad' : 'warn' };
}

const STATE_LABEL: Record<string, string> = {
  idle: 'no video', loading: 'loading', playing: 'playing', paused: 'paused',
  buffering: 'buffering', seeking: 'seeking', ended: 'ended',
};

export interface PeopleView {
  participants: Participant[];
  members: Member[];
  host: string | null;
  me: string;
  canHandOver: boolean;
}

/** Discord's participants, each with the room's view of them (state, drift, link quality). */
export function people(view: PeopleView, handOver: (userId: string) => void): HTMLElement {
  const byId = new Map(view.members.map((m) => [m.user_id, m]));
  const ids = [...new Set([...view.participants.map((p) => p.id), ...view.members.map((m) => m.user_id)])];
  const rows = ids.map((id) => {
    const p = view.participants.find((x) => x.id === id);
    const m = byId.get(id);
    const name = p?.nickname || p?.global_name || p?.username || m?.name || id;
    const mark = driftMark(m?.error_ms);
    const state = m ? (m.connected ? STATE_LABEL[m.state ?? 'idle'] ?? m.state : 'reconnecting') : 'joining';
    const row = el(
      'li',
      { class: `person ${m?.activity ?? 'active'}`, 'data-user': id },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase()),
      el(
        'span',
        { class: 'who' },
        el('span', { class: 'name' }, name, id === view.me ? el('span', { class: 'you' }, ' (you)') : null),
        el(
          'span',
          { class: 'sub' },
          el('span', { class: `quality ${m?.quality ?? 'unknown'}`, title: `connection ${m?.quality ?? 'unknown'}` }),
          `${state}${m && m.activity !== 'active' ? ` · ${m.activity}` : ''}`,
        ),
      ),
      id === view.host ? el('span', { class: 'tag host', title: 'host' }, 'HOST') : null,
      m && m.role !== 'viewer' ? el('span', { class: 'tag role' }, m.role.toUpperCase()) : null,
      mark ? el('span', { class: `drift ${mark.level}`, 'data-drift': String(Math.round(m!.error_ms!)) }, mark.text) : null,
    );
    if (view.canHandOver && id !== view.host && m?.connected) {
      const button = el('button', { class: 'small', 'data-action': 'handover', 'data-to': id }, 'Make host');
      button.addEventListener('click', () => handOver(id));
      row.append(button);
    }
    return row;
  });
  return el('ul', { class: 'people' }, ...rows);
}

export interface QueueView {
  queue: QueueItem[];
  canControl: boolean;
  me: string;
  names: Map<string, string>;
}

export interface QueueActions {
  playItem(itemId: string): void;
  move(itemId: string, index: number): void;
  remove(itemId: string): void;
  add(entryId: string): void;
}

export function queue(view: QueueView, act: QueueActions): HTMLElement {
  const items = view.queue.map((item, i) => {
    const buttons: HTMLElement[] = [];
    const button = (label: string, action: string, f: () => void, disabled = false) => {
      const b = el('button', { class: 'icon', 'data-action': action, title: action, disabled }, label);
      b.addEventListener('click', f);
      buttons.push(b);
    };
    if (view.canControl) {
      button('▶', 'play-item', () => act.playItem(item.item_id));
      button('▲', 'move-up', () => act.move(item.item_id, i - 1), i === 0);
      button('▼', 'move-down', () => act.move(item.item_id, i + 1), i === view.queue.length - 1);
    }
    if (view.canControl || item.added_by === view.me) button('✕', 'remove', () => act.remove(item.item_id));
    return el(
      'li',
      { class: 'queue-item', 'data-item': item.item_id, 'data-entry': item.entry_id },
      el('span', { class: 'index' }, String(i + 1)),
      el(
        'span',
        { class: 'who' },
        el('span', { class: 'name' }, item.title || item.entry_id),
        el('span', { class: 'sub' }, `added by ${view.names.get(item.added_by) ?? item.added_by}`),
      ),
      el('span', { class: 'buttons' }, ...buttons),
    );
  });
  const input = el('input', { class: 'entry-input', placeholder: 'Kaltura entry id, e.g. 0_abcd1234', 'aria-label': 'entry id' });
  const add = el('button', { class: 'primary small', 'data-action': 'queue-add' }, 'Add');
  const submit = () => {
    const id = input.value.trim();
    if (id) act.add(id);
    input.value = '';
  };
  add.addEventListener('click', submit);
  input.addEventListener('keydown', (e) => e.key === 'Enter' && submit());
  return el(
    'div',
    { class: 'queue' },
    items.length ? el('ol', { class: 'queue-list' }, ...items) : el('p', { class: 'empty' }, 'The queue is empty.'),
    el('div', { class: 'queue-add' }, input, add),
  );
}

export { formatTime };
