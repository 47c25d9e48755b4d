// The messages of PROTOCOL.md (version 1), as TypeScript types.
import type { Timeline } from './timeline';

export const VERSION = 1;

export interface Member {
  user_id: string;
  name: string;
  avatar: string | null;
  role: string;
  control: boolean;
  connected: boolean;
  joined_at: number;
  state?: PlayerState;
  position?: number;
  error_ms?: number;
  rtt_ms?: number;
  jitter_ms?: number;
  quality: 'good' | 'fair' | 'poor' | 'unknown';
  activity: 'active' | 'away' | 'inactive';
  ready?: boolean;
}

export interface QueueItem {
  item_id: string;
  entry_id: string;
  title?: string | null;
  added_by: string;
  added_at: number;
}

export interface Config {
  heartbeat_ms: number;
  inactive_after_ms: number;
  idle_close_ms: number;
  ready_timeout_ms: number;
  host_grace_ms: number;
  max_frame_bytes: number;
  rate_per_second: number;
  rate_burst: number;
  max_members: number;
  max_queue: number;
}

export interface Room {
  instance_id: string;
  guild_id: string;
  channel_id: string;
  timeline: Timeline;
  queue: QueueItem[];
  host: string | null;
  members: Member[];
}

export type PlayerState = 'idle' | 'loading' | 'playing' | 'paused' | 'buffering' | 'seeking' | 'ended';

export type ServerMessage =
  | { type: 'welcome'; v: number; you: Member; room: Room; config: Config }
  | { type: 'time'; id: number; t0: number; t1: number; t2: number }
  | { type: 'timeline'; timeline: Timeline }
  | { type: 'queue'; queue: QueueItem[] }
  | { type: 'presence'; now: number; host: string | null; members: Member[] }
  | { type: 'host_request'; from: string; name: string }
  | { type: 'error'; code: string; message: string; req?: number; request?: string };

export type ClientMessage =
  | { type: 'hello'; v: number; token: string }
  | { type: 'time'; id: number; t0: number }
  | {
      type: 'report';
      state: PlayerState;
      position: number;
      seq?: number;
      error_ms?: number;
      rtt_ms?: number;
      jitter_ms?: number;
      activity: 'active' | 'away';
    }
  | { type: 'ready'; seq: number }
  | { type: 'play'; position?: number }
  | { type: 'pause'; position?: number }
  | { type: 'seek'; position: number }
  | { type: 'rate'; rate: number }
  | { type: 'skip' }
  | { type: 'play_item'; item_id: string }
  | { type: 'queue_add'; entry_id: string }
  | { type: 'queue_move'; item_id: string; index: number }
  | { type: 'queue_remove'; item_id: string }
  | { type: 'handover'; to: string }
  | { type: 'request_host' };

/** The answer of `POST /api/token`. */
export interface TokenResponse {
  access_token: string;
  session: string;
  session_expires_at: number;
  user: { id: string; username: string; global_name?: string | null; avatar?: string | null };
  kaltura_role: string;
  can_control: boolean;
  ws_path: string;
  protocols: number[];
}

/** The answer of `POST /api/watch/playback`. */
export interface Playback {
  entry_id: string;
  ks: string;
  expires_at: number;
  partner_id: number;
  service_url: string;
  ui_conf_id?: number | null;
}

/** An API error `{"error": {"code", "message"}}` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function postJson<T>(path: string, body: unknown, bearer?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let res: Response;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network', String(err));
  }
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const error = json && json.error ? json.error : { code: `http_${res.status}`, message: res.statusText };
    throw new ApiError(res.status, error.code, error.message);
  }
  return json as T;
}
