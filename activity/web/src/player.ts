// The real Kaltura player (@playkit-js/kaltura-player-js, its self-contained OVP bundle loaded
// as /vendor/kaltura-ovp-player.js) playing one entry with the viewer's KS. Its own UI is off:
// only the room controls playback.
import type { Playback } from './protocol';

interface KalturaPlayerInstance {
  loadMedia(media: { entryId: string }): Promise<unknown>;
  destroy(): void;
  getVideoElement(): HTMLVideoElement;
  addEventListener(type: string, listener: (event: { payload?: unknown }) => void): void;
  sources?: { metadata?: { name?: string } };
}

declare global {
  interface Window {
    KalturaPlayer?: { setup(config: unknown): KalturaPlayerInstance };
  }
}

/** Why an entry does not play, as the viewer should hear it. */
export type Problem = 'no_permission' | 'kaltura_unreachable';

interface PlayerError {
  code?: number;
  category?: number;
  data?: { code?: number; data?: { messages?: { code?: string }[] } };
}

/** Sorts a player error: a block action (KS restriction) or a refused KS is a permission matter. */
export function classify(error: PlayerError): Problem {
  const cause = error.data ?? {};
  const messages = cause.data?.messages ?? [];
  const refused =
    cause.code === 2001 || messages.some((m) => m.code === 'SESSION_RESTRICTED') || JSON.stringify(error).includes('INVALID_KS');
  return refused ? 'no_permission' : 'kaltura_unreachable';
}

export class KalturaView {
  private player: KalturaPlayerInstance | null = null;
  private entry: string | null = null;
  video: HTMLVideoElement | null = null;

  constructor(
    private readonly target: HTMLElement,
    private readonly onProblem: (problem: Problem, detail: string) => void,
  ) {}

  get entryId(): string | null {
    return this.entry;
  }

  /** Loads an entry into a fresh player; resolves with its media element once its sources are set. */
  async load(entryId: string, playback: Playback): Promise<HTMLVideoElement> {
    this.unload();
    const setup = window.KalturaPlayer;
    if (!setup) throw new Error('the Kaltura player bundle did not load');
    this.entry = entryId;
    const holder = document.createElement('div');
    holder.id = `kaltura-player-${Math.random().toString(36).slice(2)}`;
    holder.className = 'kaltura-player';
    this.target.replaceChildren(holder);
    const player = setup.setup({
      targetId: holder.id,
      provider: {
        partnerId: playback.partner_id,
        ks: playback.ks,
        ...(playback.ui_conf_id ? { uiConfId: playback.ui_conf_id } : {}),
        env: { serviceUrl: `${playback.service_url}/api_v3`, cdnUrl: playback.service_url },
      },
      playback: { autoplay: false, preload: 'auto', muted: false },
      ui: { disable: true },
    });
    this.player = player;
    player.addEventListener('error', (event) => {
      if (this.player !== player) return;
      const error = (event.payload ?? {}) as PlayerError;
      this.onProblem(classify(error), `player error ${error.code ?? ''}`);
    });
    try {
      await player.loadMedia({ entryId });
    } catch (error) {
      throw Object.assign(new Error('the entry did not load'), { problem: classify((error ?? {}) as PlayerError) });
    }
    this.video = player.getVideoElement();
    this.video.playsInline = true;
    this.video.preload = 'auto';
    return this.video;
  }

  unload(): void {
    this.player?.destroy();
    this.player = null;
    this.video = null;
    this.entry = null;
    this.target.replaceChildren();
  }
}
