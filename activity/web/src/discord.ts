// The Discord side: the Embedded App SDK's handshake, sign-in (authorize -> our /api/token ->
// authenticate), the instance's participants, layout mode and orientation, and URL mappings so
// outside hosts (Kaltura) go through Discord's proxy.
import { DiscordSDK, patchUrlMappings } from '@discord/embedded-app-sdk';
import { postJson, type TokenResponse } from './protocol';

export type Participant = { id: string; username: string; global_name?: string | null; nickname?: string };
export type Layout = 'focused' | 'pip' | 'grid';

/** The application id: a meta tag the server writes, else Discord's `{id}.discordsays.com` host. */
export function clientId(doc: Document = document, host: string = location.hostname): string {
  const meta = doc.querySelector<HTMLMetaElement>('meta[name="discord-client-id"]')?.content;
  if (meta && /^\d+$/.test(meta)) return meta;
  const label = host.split('.')[0];
  if (/^\d+$/.test(label)) return label;
  throw new Error('no Discord application id (meta discord-client-id)');
}

export const LAYOUTS: Record<number, Layout> = { 0: 'focused', 1: 'pip', 2: 'grid' };

/** The URL-mapping prefix for Kaltura: the Activity's Developer Portal maps `/kaltura` to it. */
export const KALTURA_PREFIX = '/kaltura';

export class Discord {
  readonly sdk: DiscordSDK;
  private mapped = new Set<string>();

  constructor(id: string) {
    this.sdk = new DiscordSDK(id, { disableConsoleLogOverride: true });
  }

  get instanceId(): string {
    return this.sdk.instanceId;
  }

  get platform(): string {
    return this.sdk.platform;
  }

  /** ready, authorize (no dialog when already granted), our token exchange, authenticate. */
  async signIn(): Promise<TokenResponse> {
    await this.sdk.ready();
    const { code } = await this.sdk.commands.authorize({
      client_id: this.sdk.clientId,
      response_type: 'code',
      state: '',
      prompt: 'none',
      scope: ['identify'],
    });
    const token = await postJson<TokenResponse>('/api/token', {
      code,
      instance_id: this.sdk.instanceId,
      guild_id: this.sdk.guildId,
      channel_id: this.sdk.channelId,
    });
    await this.sdk.commands.authenticate({ access_token: token.access_token });
    return token;
  }

  /** Connected participants now and on every change (the SDK's, not our own tracking). */
  async participants(on: (list: Participant[]) => void): Promise<void> {
    const { participants } = await this.sdk.commands.getInstanceConnectedParticipants();
    on(participants);
    await this.sdk.subscribe('ACTIVITY_INSTANCE_PARTICIPANTS_UPDATE', (e) => on(e.participants));
  }

  async layout(on: (layout: Layout) => void): Promise<void> {
    await this.sdk.subscribe('ACTIVITY_LAYOUT_MODE_UPDATE', (e) => on(LAYOUTS[e.layout_mode] ?? 'focused'));
  }

  async orientation(on: (portrait: boolean) => void): Promise<void> {
    await this.sdk.subscribe('ORIENTATION_UPDATE', (e) => on(e.screen_orientation === 0));
  }

  /** Route a Kaltura service host through Discord's proxy (fetch, XHR and the media element's src). */
  mapKaltura(serviceUrl: string): void {
    const host = new URL(serviceUrl).host;
    if (host === location.host || this.mapped.has(host)) return;
    this.mapped.add(host);
    patchUrlMappings([{ prefix: KALTURA_PREFIX, target: host }], { patchSrcAttributes: true });
  }
}
