// The websocket client of the Watch Together protocol: hello/welcome, clock sync samples,
// heartbeat reports, requests, and reconnecting as each close code asks (PROTOCOL.md 2, 3.1, 7).
import { Clock } from './clock';
import { adviceFor, backoffMs } from './drift';
import { type ClientMessage, type Config, type Room, type ServerMessage, VERSION } from './protocol';

export type Connection =
  | { status: 'connecting' }
  | { status: 'open' }
  | { status: 'reconnecting'; code: number; inMs: number }
  | { status: 'stopped'; code: number; reason: string };

export interface SyncEvents {
  welcome(room: Room, config: Config, youId: string): void;
  message(message: ServerMessage): void;
  connection(state: Connection): void;
  /** The session was refused (4001): return a fresh one, or null to stop. */
  renewSession(): Promise<string | null>;
  /** The heartbeat: what to report now. */
  report(): ClientMessage & { type: 'report' };
}

const FIRST_SAMPLES = 8;
const FIRST_SPACING_MS = 150;
const LATER_SAMPLES = 4;
const RESYNC_MS = 30_000;

export class SyncClient {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timers: number[] = [];
  private nextId = 1;
  private pending = new Map<number, number>();
  private req = 1;
  private stopped = false;

  constructor(
    private readonly url: string,
    private session: string,
    private readonly on: SyncEvents,
    readonly clock: Clock = new Clock(16),
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Leave for good (close 1000: the server fails over at once if we were host). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.ws?.close(1000, 'left');
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Sends a request; returns its `req` number (an `error` echoes it). */
  send(message: ClientMessage): number {
    const req = this.req++;
    if (this.connected) this.ws!.send(JSON.stringify({ ...message, req }));
    return req;
  }

  /** A few clock samples now ("sync now"). */
  resync(count = LATER_SAMPLES): void {
    for (let i = 0; i < count; i++) this.later(() => this.sample(), i * FIRST_SPACING_MS);
  }

  private open(): void {
    this.on.connection({ status: 'connecting' });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: VERSION, token: this.session }));
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (this.ws === ws) this.closed(event.code, event.reason);
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: ServerMessage;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message.type === 'time') {
      const t3 = performance.now();
      if (this.pending.delete(message.id)) this.clock.add({ t0: message.t0, t1: message.t1, t2: message.t2, t3 });
    } else if (message.type === 'welcome') {
      this.attempt = 0;
      this.on.connection({ status: 'open' });
      this.clearTimers();
      for (let i = 0; i < FIRST_SAMPLES; i++) this.later(() => this.sample(), i * FIRST_SPACING_MS);
      this.every(() => this.resync(), RESYNC_MS);
      this.every(() => this.ws?.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify(this.on.report())), message.config.heartbeat_ms);
      this.on.welcome(message.room, message.config, message.you.user_id);
    }
    this.on.message(message);
  }

  private sample(): void {
    if (!this.connected) return;
    const id = this.nextId++;
    const t0 = performance.now();
    this.pending.set(id, t0);
    this.ws!.send(JSON.stringify({ type: 'time', id, t0 }));
  }

  private async closed(code: number, reason: string): Promise<void> {
    this.clearTimers();
    this.pending.clear();
    if (this.stopped) return;
    const advice = adviceFor(code);
    if (advice === 'none' || advice === 'stop') {
      this.on.connection({ status: 'stopped', code, reason });
      return;
    }
    if (advice === 'new-session') {
      // One fresh session per refusal; a second refusal in a row stops.
      const renewed = this.attempt < 1 ? await this.on.renewSession() : null;
      if (!renewed) {
        this.on.connection({ status: 'stopped', code, reason });
        return;
      }
      this.session = renewed;
    }
    const inMs = advice === 'now' ? 0 : advice === 'after5s' ? 5000 : backoffMs(this.attempt);
    this.attempt += 1;
    this.on.connection({ status: 'reconnecting', code, inMs });
    this.later(() => this.open(), inMs);
  }

  private later(f: () => void, ms: number): void {
    this.timers.push(window.setTimeout(f, ms));
  }

  private every(f: () => void, ms: number): void {
    this.timers.push(window.setInterval(f, ms));
  }

  private clearTimers(): void {
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers = [];
  }
}
