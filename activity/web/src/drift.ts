// Drift correction (sync.md, PROTOCOL.md 3.2): inside 40 ms nothing; beyond it playbackRate
// nudges of at most 5 % until the error is under 20 ms (hysteresis, so the rate does not flap);
// a seek only at 400 ms or more, aimed ahead by the seek latency this browser has shown.

export const DEAD_BAND_MS = 40;
export const SETTLED_MS = 20;
export const SEEK_AT_MS = 400;
export const MAX_NUDGE = 0.05;
/** The nudge cancels the error over about this long, within MAX_NUDGE. */
const HORIZON_MS = 500;

export type Action = { kind: 'none' } | { kind: 'rate'; rate: number } | { kind: 'seek'; to: number };

export interface Corrector {
  nudging: boolean;
}

/**
 * One step: `errorMs` is local minus room position (positive: ahead), `target` the room
 * position now (seconds), `roomRate` the timeline's rate.
 */
export function correct(c: Corrector, errorMs: number, roomRate: number, target: number, seekLeadS = 0): Action {
  const size = Math.abs(errorMs);
  if (size >= SEEK_AT_MS) {
    c.nudging = false;
    return { kind: 'seek', to: Math.max(0, target + seekLeadS * roomRate) };
  }
  if (c.nudging && size < SETTLED_MS) {
    c.nudging = false;
    return { kind: 'rate', rate: roomRate };
  }
  if (!c.nudging && size <= DEAD_BAND_MS) return { kind: 'none' };
  c.nudging = true;
  const nudge = Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, errorMs / HORIZON_MS));
  return { kind: 'rate', rate: roomRate * (1 - nudge) };
}

/**
 * How far ahead to aim a seek: the media element lands late by its seek time. Learned from
 * the error seen right after each seek, smoothed, and bounded.
 */
export class SeekLead {
  private lead = 0.15;

  get seconds(): number {
    return this.lead;
  }

  /** `errorMsAfter`: the error once the seek completed (negative: landed behind). */
  learn(errorMsAfter: number): void {
    const next = this.lead - errorMsAfter / 1000;
    this.lead = Math.max(0, Math.min(2, 0.5 * this.lead + 0.5 * next));
  }
}

/** Reconnect delays: 250 ms doubling to 10 s, with jitter (PROTOCOL.md 7). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 250 * 2 ** attempt);
  return base / 2 + random() * (base / 2);
}

/** What the client does after a close code (PROTOCOL.md 7). */
export type CloseAdvice = 'none' | 'now' | 'backoff' | 'after5s' | 'new-session' | 'stop';

export function adviceFor(code: number): CloseAdvice {
  switch (code) {
    case 1000:
      return 'none';
    case 1001:
      return 'now';
    case 4001:
      return 'new-session';
    case 4008:
      return 'after5s';
    case 1009:
    case 4000:
    case 4003:
    case 4009:
    case 4013:
      return 'stop';
    default:
      return 'backoff';
  }
}
