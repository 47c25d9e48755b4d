import { describe, expect, it } from 'vitest';
import { Clock, estimate, meanAbsoluteDeviation } from '../src/clock';
import { adviceFor, backoffMs, correct, SeekLead } from '../src/drift';
import { roomPosition, supersedes, type Timeline } from '../src/timeline';

describe('clock', () => {
  it('computes delay and offset from four timestamps', () => {
    // Server is 1000 ms ahead; 20 ms each way; 5 ms on the server.
    const e = estimate({ t0: 100, t1: 1120, t2: 1125, t3: 145 });
    expect(e.delay).toBe(40);
    expect(e.offset).toBe(1000);
  });

  it('keeps the minimum-delay sample of the recent ones', () => {
    const clock = new Clock(3);
    clock.add({ t0: 0, t1: 1010, t2: 1010, t3: 20 }); // delay 20, offset 1000
    clock.add({ t0: 0, t1: 1100, t2: 1100, t3: 200 }); // delay 200, skewed offset 1000
    clock.add({ t0: 0, t1: 1080, t2: 1080, t3: 100 }); // delay 100, offset 1030 (asymmetric)
    expect(clock.offset).toBe(1000);
    expect(clock.rttMs).toBe(20);
    clock.add({ t0: 0, t1: 1050, t2: 1050, t3: 100 }); // the 20 ms sample falls out
    expect(clock.rttMs).toBe(100);
    expect(clock.serverNow(5)).toBe(5 + clock.offset);
  });

  it('ignores impossible samples', () => {
    const clock = new Clock();
    clock.add({ t0: 100, t1: 0, t2: 500, t3: 110 });
    expect(clock.synced).toBe(false);
  });

  it('reports jitter as the mean absolute deviation', () => {
    expect(meanAbsoluteDeviation([10, 20, 30])).toBeCloseTo(20 / 3);
  });
});

describe('timeline', () => {
  const t: Timeline = { seq: 3, entry_id: 'e', duration: 100, state: 'playing', position: 10, anchor: 5000, rate: 1, waiting: null };

  it('advances while playing from the anchor, not before it, and stops at the end', () => {
    expect(roomPosition(t, 4000)).toBe(10);
    expect(roomPosition(t, 7000)).toBe(12);
    expect(roomPosition({ ...t, rate: 2 }, 7000)).toBe(14);
    expect(roomPosition(t, 1_000_000)).toBe(100);
    expect(roomPosition({ ...t, state: 'paused' }, 7000)).toBe(10);
  });

  it('plays on to a pause scheduled ahead, then stays', () => {
    const pause: Timeline = { ...t, state: 'paused', position: 12, anchor: 7000 };
    expect(roomPosition(pause, 6000)).toBe(11);
    expect(roomPosition(pause, 7000)).toBe(12);
    expect(roomPosition(pause, 9000)).toBe(12);
  });

  it('drops stale timelines and takes equal ones', () => {
    expect(supersedes({ ...t, seq: 2 }, t)).toBe(false);
    expect(supersedes({ ...t, seq: 3 }, t)).toBe(true);
    expect(supersedes(t, null)).toBe(true);
  });
});

describe('drift correction', () => {
  it('does nothing inside the dead band', () => {
    expect(correct({ nudging: false }, 30, 1, 10)).toEqual({ kind: 'none' });
  });

  it('nudges the rate against the error, at most 5 %', () => {
    const ahead = correct({ nudging: false }, 100, 1, 10);
    expect(ahead).toEqual({ kind: 'rate', rate: 0.95 });
    const behind = correct({ nudging: false }, -10 * 2.5, 1, 10);
    expect(behind).toEqual({ kind: 'none' });
    const slightlyBehind = correct({ nudging: false }, -50, 1, 10);
    expect(slightlyBehind.kind).toBe('rate');
    expect((slightlyBehind as { rate: number }).rate).toBeCloseTo(1.05);
  });

  it('keeps nudging until under 20 ms, then restores the room rate (hysteresis)', () => {
    const c = { nudging: false };
    expect(correct(c, 60, 1, 10).kind).toBe('rate');
    expect(correct(c, 30, 1, 10).kind).toBe('rate'); // inside 40 but still correcting
    expect(correct(c, 10, 1.5, 10)).toEqual({ kind: 'rate', rate: 1.5 });
    expect(c.nudging).toBe(false);
    expect(correct(c, 30, 1, 10)).toEqual({ kind: 'none' });
  });

  it('never seeks under 400 ms, always at or above', () => {
    for (let e = -399; e <= 399; e += 7) expect(correct({ nudging: false }, e, 1, 10).kind).not.toBe('seek');
    expect(correct({ nudging: true }, 400, 1, 10)).toEqual({ kind: 'seek', to: 10 });
    expect(correct({ nudging: false }, -2000, 1, 10, 0.2)).toEqual({ kind: 'seek', to: 10.2 });
  });

  it('learns how far ahead to aim a seek', () => {
    const lead = new SeekLead();
    const before = lead.seconds;
    lead.learn(-200); // landed 200 ms behind: aim further ahead
    expect(lead.seconds).toBeGreaterThan(before);
    for (let i = 0; i < 20; i++) lead.learn(0);
    expect(lead.seconds).toBeGreaterThan(0);
    lead.learn(-1e9);
    expect(lead.seconds).toBeLessThanOrEqual(2);
  });
});

describe('reconnecting', () => {
  it('backs off from 250 ms doubling to 10 s with jitter', () => {
    expect(backoffMs(0, () => 1)).toBe(250);
    expect(backoffMs(0, () => 0)).toBe(125);
    expect(backoffMs(3, () => 1)).toBe(2000);
    expect(backoffMs(20, () => 1)).toBe(10_000);
  });

  it('follows the close codes of the protocol', () => {
    expect(adviceFor(1000)).toBe('none');
    expect(adviceFor(1001)).toBe('now');
    expect(adviceFor(4001)).toBe('new-session');
    expect(adviceFor(4008)).toBe('after5s');
    for (const code of [1009, 4000, 4003, 4009, 4013]) expect(adviceFor(code)).toBe('stop');
    for (const code of [1006, 1011, 4002, 4010, 4011]) expect(adviceFor(code)).toBe('backoff');
  });
});
