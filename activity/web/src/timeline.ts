// The room's timeline as the server publishes it (PROTOCOL.md 3.2) and where it stands now.

export type TimelineState = 'paused' | 'playing' | 'waiting';

export interface Timeline {
  seq: number;
  entry_id: string | null;
  title?: string | null;
  duration?: number | null;
  state: TimelineState;
  position: number;
  anchor: number;
  rate: number;
  waiting: { deadline: number; pending: string[] } | null;
}

/** The room position (seconds) at server time `serverNow` (ms); a pause lands at its anchor. */
export function roomPosition(t: Timeline, serverNow: number): number {
  if (t.state === 'paused') return t.position - (Math.max(0, t.anchor - serverNow) / 1000) * t.rate;
  if (t.state !== 'playing') return t.position;
  const p = t.position + (Math.max(0, serverNow - t.anchor) / 1000) * t.rate;
  return t.duration ? Math.min(p, t.duration) : p;
}

/** Whether a received timeline replaces the one held (a lower seq is stale; equal updates `waiting`). */
export function supersedes(next: Timeline, held: Timeline | null): boolean {
  return held === null || next.seq >= held.seq;
}

export function formatTime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
