// Keeps one media element on the room's timeline: waits at the position and says `ready`,
// starts at the anchor on the server clock, then corrects drift with rate nudges and, only
// for large errors, a seek (drift.ts).
import type { Clock } from './clock';
import { type Action, correct, type Corrector, SeekLead } from './drift';
import type { PlayerState } from './protocol';
import { roomPosition, type Timeline } from './timeline';

/** A paused or waiting element further than this from the room position is moved there. */
const PARKED_TOLERANCE_S = 0.02;

export class Follower {
  timeline: Timeline | null = null;
  video: HTMLVideoElement | null = null;
  /** Local minus room position at the last tick, ms (positive: ahead). */
  errorMs: number | undefined;
  seeks = 0;
  lastAction: Action = { kind: 'none' };
  private corrector: Corrector = { nudging: false };
  private readonly seekLead = new SeekLead();
  private readyFor = -1;
  private startTimer: number | undefined;
  private learnAfterSeek = false;
  private buffering = false;
  private blockedAutoplay = false;

  constructor(
    private readonly clock: Clock,
    private readonly sendReady: (seq: number) => void,
    private readonly onAutoplayBlocked: () => void,
  ) {}

  attach(video: HTMLVideoElement): void {
    this.video = video;
    this.buffering = false;
    video.addEventListener('waiting', () => (this.buffering = true));
    video.addEventListener('playing', () => (this.buffering = false));
    video.addEventListener('seeked', () => this.maybeReady());
    video.addEventListener('canplay', () => this.maybeReady());
    this.apply(this.timeline);
  }

  detach(): void {
    this.video = null;
    this.errorMs = undefined;
    window.clearTimeout(this.startTimer);
  }

  /** The timeline changed (or the element arrived): act on it at once. */
  apply(timeline: Timeline | null): void {
    const changed = timeline?.seq !== this.timeline?.seq;
    this.timeline = timeline;
    if (changed) this.readyFor = -1;
    window.clearTimeout(this.startTimer);
    this.tick();
  }

  /** Room position now, seconds. */
  target(): number | undefined {
    return this.timeline ? roomPosition(this.timeline, this.clock.serverNow()) : undefined;
  }

  /** The state the report carries. */
  state(): PlayerState {
    const v = this.video;
    if (!this.timeline?.entry_id) return 'idle';
    if (!v || v.readyState < 1) return 'loading';
    if (v.seeking) return 'seeking';
    if (v.ended) return 'ended';
    if (this.buffering) return 'buffering';
    return v.paused ? 'paused' : 'playing';
  }

  /** Drop the learnt corrections and move straight to the room position ("sync now"). */
  syncNow(): void {
    const v = this.video;
    const target = this.target();
    if (!v || target === undefined) return;
    this.corrector.nudging = false;
    if (Math.abs((v.currentTime - target) * 1000) > 40) this.seek(target + this.seekLead.seconds * (this.timeline?.rate ?? 1));
  }

  /** Runs every ~200 ms and on every change. */
  tick(): void {
    const t = this.timeline;
    const v = this.video;
    if (!t || !v || v.readyState < 1) return;
    if (t.state === 'paused' && !v.paused && this.clock.serverNow() < t.anchor) {
      // A pause lands at its anchor on the server clock: play on to it, then stop there, so
      // no one steps back by their latency.
      this.at(t.anchor, () => this.tick());
      return;
    }
    if (t.state !== 'playing') {
      this.park(v, t.position);
      this.errorMs = (v.currentTime - t.position) * 1000;
      this.maybeReady();
      return;
    }
    const now = this.clock.serverNow();
    if (now < t.anchor) {
      // Everyone starts at the anchor: wait there, then play at that server instant.
      this.park(v, t.position);
      this.at(t.anchor, () => this.start(v, t));
      return;
    }
    const target = roomPosition(t, now);
    if (t.duration && target >= t.duration - 0.05) {
      this.errorMs = 0;
      return;
    }
    if (v.paused) {
      this.start(v, t);
      return;
    }
    if (v.seeking) return;
    const error = (v.currentTime - target) * 1000;
    this.errorMs = error;
    if (this.learnAfterSeek) {
      this.learnAfterSeek = false;
      this.seekLead.learn(error);
    }
    const action = correct(this.corrector, error, t.rate, target, this.seekLead.seconds);
    this.lastAction = action.kind === 'none' ? this.lastAction : action;
    if (action.kind === 'rate') v.playbackRate = action.rate;
    else if (action.kind === 'seek') this.seek(action.to);
  }

  /** Runs `then` at server time `anchor` (one timer: a newer timeline replaces it). */
  private at(anchor: number, then: () => void): void {
    const inMs = this.clock.toLocal(anchor) - performance.now();
    window.clearTimeout(this.startTimer);
    this.startTimer = window.setTimeout(then, Math.max(0, inMs));
  }

  private start(v: HTMLVideoElement, t: Timeline): void {
    if (this.timeline !== t || this.video !== v) return;
    v.playbackRate = t.rate;
    const target = roomPosition(t, this.clock.serverNow());
    if (Math.abs(v.currentTime - target) * 1000 >= 400) this.seek(target + this.seekLead.seconds * t.rate);
    v.play().catch((err: DOMException) => {
      if (err.name === 'NotAllowedError' && !this.blockedAutoplay) {
        // Without a gesture the browser only plays muted; the UI offers to unmute.
        this.blockedAutoplay = true;
        v.muted = true;
        this.onAutoplayBlocked();
        v.play().catch(() => {});
      }
    });
  }

  private park(v: HTMLVideoElement, position: number): void {
    if (!v.paused) v.pause();
    v.playbackRate = this.timeline?.rate ?? 1;
    this.corrector.nudging = false;
    if (!v.seeking && Math.abs(v.currentTime - position) > PARKED_TOLERANCE_S) {
      v.currentTime = position;
      this.seeks += 1;
    }
  }

  private seek(to: number): void {
    const v = this.video;
    if (!v) return;
    v.currentTime = to;
    this.seeks += 1;
    this.learnAfterSeek = true;
  }

  /** While waiting, `ready` once the element sits at the position with data to play. */
  private maybeReady(): void {
    const t = this.timeline;
    const v = this.video;
    if (!t || !v || t.state !== 'waiting' || this.readyFor === t.seq) return;
    const there = Math.abs(v.currentTime - t.position) <= PARKED_TOLERANCE_S;
    if (there && !v.seeking && v.readyState >= 3) {
      this.readyFor = t.seq;
      this.sendReady(t.seq);
    }
  }
}
