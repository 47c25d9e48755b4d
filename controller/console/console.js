// The console of `kaltura-discord up`: plays the Discord side against the Discord sandbox's
// control API (`/_sandbox`), as a chat client. Pick a server, a channel and who you are; run
// slash commands (with the bot's autocomplete), press buttons, watch messages arrive, start
// Watch Together through the sandbox's Activity host page. `window.console_state` is for tests.
'use strict';

const ui = (id) => document.getElementById(id);
const view = {
  kalturaShown: '', published: 0,
  config: null, guilds: [], guildId: null, channelId: null, userId: null,
  commands: [], shown: '', picked: 0, suggestions: [], completing: null,
};
window.console_state = view;

const OPTION = { SUB_COMMAND: 1, SUB_COMMAND_GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, NUMBER: 10 };
const EPHEMERAL = 64;
const LOADING = 128;
const LAUNCH_ACTIVITY = 12;
const MODAL = 9;

async function control(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  };
  const res = await fetch(`${view.config.discord.base_url}/_sandbox${path}`, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error((json && json.message) || `${res.status} ${path}`);
  return json;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child.nodeType ? child : document.createTextNode(String(child)));
  }
  return node;
}

const guild = () => view.guilds.find((g) => g.id === view.guildId);
const roleName = (id) => (guild()?.roles || []).find((r) => r.id === id)?.name;
const people = () => (guild()?.members || []).filter((m) => !m.user.bot);
const me = () => people().find((m) => m.user.id === view.userId);

// --- servers, channels, members -------------------------------------------------------------

async function refreshGuilds() {
  view.guilds = (await control('/guilds')).sort((a, b) => a.name.localeCompare(b.name));
  if (!view.guilds.some((g) => g.id === view.guildId)) view.guildId = view.guilds[0]?.id ?? null;
  renderGuilds();
}

function renderGuilds() {
  ui('guilds').replaceChildren(...view.guilds.map((g) => el('button', {
    type: 'button', title: g.name, class: g.id === view.guildId ? 'guild active' : 'guild',
    dataset: { guild: g.id }, onclick: () => selectGuild(g.id),
  }, g.name.split(/\s+/).map((w) => w[0]).join('').slice(0, 3))));
  const current = guild();
  if (!current) return;
  ui('guild-name').textContent = current.name;
  const channels = current.channels.filter((c) => c.type === 0 || c.type === 2)
    .sort((a, b) => a.type - b.type || a.position - b.position || a.name.localeCompare(b.name));
  if (!channels.some((c) => c.id === view.channelId && c.type === 0)) {
    view.channelId = (channels.find((c) => c.type === 0 && c.id === current.system_channel_id) || channels.find((c) => c.type === 0))?.id;
  }
  ui('channels').replaceChildren(...channels.map((c) => el('button', {
    type: 'button', dataset: { channel: c.id, name: c.name },
    class: `channel ${c.type === 2 ? 'voice' : 'text'}${c.id === view.channelId ? ' active' : ''}`,
    title: c.type === 2 ? 'Start Watch Together here' : `#${c.name}`,
    onclick: () => (c.type === 2 ? launchActivity(c.id) : selectChannel(c.id)),
  }, c.type === 2 ? `♪ ${c.name}` : `# ${c.name}`)));
  const members = people();
  if (!members.some((m) => m.user.id === view.userId)) {
    view.userId = (members.find((m) => m.roles.length) || members[0])?.user.id ?? null;
  }
  ui('member').replaceChildren(...members.map((m) => el('option', {
    value: m.user.id, selected: m.user.id === view.userId,
  }, `${m.user.global_name || m.user.username}${m.roles.length ? ` (${m.roles.map(roleName).filter(Boolean).join(', ')})` : ''}`)));
  ui('my-roles').replaceChildren(...(me()?.roles || []).map((r) => el('span', { class: 'role' }, roleName(r) || r)));
  ui('members').replaceChildren(...members.map((m) => el('li', { class: m.user.id === view.userId ? 'me' : '' },
    el('span', { class: 'avatar' }, (m.user.username[0] || '?').toUpperCase()),
    el('span', {}, m.user.global_name || m.user.username),
    ...m.roles.map((r) => el('span', { class: 'role' }, roleName(r) || r)))));
  const channel = current.channels.find((c) => c.id === view.channelId);
  ui('channel-name').textContent = channel ? `# ${channel.name}` : '';
}

async function selectGuild(id) {
  view.guildId = id;
  view.channelId = null;
  view.shown = '';
  renderGuilds();
  await Promise.all([refreshCommands(), refreshMessages(), refreshResources()]);
}

async function selectChannel(id) {
  view.channelId = id;
  view.shown = '';
  renderGuilds();
  await refreshMessages();
}

async function refreshCommands() {
  if (!view.guildId) return;
  const [guildCommands, globalCommands] = await Promise.all([
    control(`/commands?guild_id=${view.guildId}`), control('/commands'),
  ]);
  view.commands = [...guildCommands, ...globalCommands].filter((c) => (c.type ?? 1) === 1)
    .sort((a, b) => a.name.localeCompare(b.name));
}

// --- messages ---------------------------------------------------------------------------------

async function refreshMessages() {
  if (!view.channelId) return;
  const messages = (await control(`/channels/${view.channelId}/messages?limit=50`)).reverse();
  const visible = messages.filter((m) => !(m.flags & EPHEMERAL) || whoAsked(m) === view.userId);
  const key = JSON.stringify([view.userId, visible]);
  if (key === view.shown) return;
  view.shown = key;
  const list = ui('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...visible.map(renderMessage));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function whoAsked(message) {
  const meta = message.interaction_metadata || message.interaction;
  return meta?.user?.id ?? meta?.user_id ?? null;
}

function nameOf(userId) {
  const member = (guild()?.members || []).find((m) => m.user.id === userId);
  return member ? (member.user.global_name || member.user.username) : userId;
}

// Discord's markdown, the little the bot uses: mentions, **bold**, *italic*, `code`, links.
function markdown(text) {
  const escaped = text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  return escaped
    .replace(/&lt;@&amp;(\d+)&gt;/g, (_, id) => `<span class="mention">@${roleName(id) || id}</span>`)
    .replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention">@${nameOf(id)}</span>`)
    .replace(/&lt;#(\d+)&gt;/g, (_, id) => `<span class="mention">#${guild()?.channels.find((c) => c.id === id)?.name || id}</span>`)
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/\*(.+?)\*/g, '<em>$1</em>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/(https?:\/\/[^\s<)]+)/g, '<a href="$1" target="_blank" rel="noreferrer">$1</a>')
    .replace(/\n/g, '<br>');
}

function rich(text, tag = 'div', cls = '') {
  const node = el(tag, { class: cls });
  node.innerHTML = markdown(text || '');
  return node;
}

function renderEmbed(embed) {
  const color = embed.color ? `#${embed.color.toString(16).padStart(6, '0')}` : '#4f545c';
  return el('div', { class: 'embed', style: `border-left-color: ${color}` },
    embed.author?.name ? el('div', { class: 'embed-author' }, embed.author.name) : null,
    embed.title ? (embed.url ? el('a', { class: 'embed-title', href: embed.url, target: '_blank', rel: 'noreferrer' }, embed.title) : el('div', { class: 'embed-title' }, embed.title)) : null,
    embed.description ? rich(embed.description, 'div', 'embed-description') : null,
    (embed.fields || []).length ? el('div', { class: 'embed-fields' }, embed.fields.map((f) => el('div', { class: f.inline ? 'field inline' : 'field' },
      el('div', { class: 'field-name' }, f.name), rich(f.value, 'div', 'field-value')))) : null,
    embed.thumbnail?.url ? el('img', { class: 'embed-thumbnail', src: embed.thumbnail.url, alt: '' }) : null,
    embed.image?.url ? el('img', { class: 'embed-image', src: embed.image.url, alt: '' }) : null,
    embed.footer?.text ? el('div', { class: 'embed-footer' }, embed.footer.text) : null);
}

const BUTTON_STYLES = { 1: 'primary', 2: 'secondary', 3: 'success', 4: 'danger', 5: 'link' };

function renderComponent(message, component) {
  if (component.type === 2) {
    const style = BUTTON_STYLES[component.style] || 'secondary';
    const label = `${component.emoji?.name ? `${component.emoji.name} ` : ''}${component.label || ''}`;
    if (component.style === 5) return el('a', { class: `button ${style}`, href: component.url, target: '_blank', rel: 'noreferrer' }, label, ' ↗');
    return el('button', {
      type: 'button', class: `button ${style}`, disabled: component.disabled, dataset: { customId: component.custom_id },
      onclick: () => press(message, component.custom_id),
    }, label);
  }
  if (component.type === 3) {
    return el('select', {
      class: 'menu', disabled: component.disabled, dataset: { customId: component.custom_id },
      onchange: (event) => press(message, component.custom_id, [event.target.value]),
    }, el('option', { value: '' }, component.placeholder || 'Choose…'),
    (component.options || []).map((o) => el('option', { value: o.value }, o.label)));
  }
  return null;
}

function renderMessage(message) {
  const author = message.author || {};
  const asked = whoAsked(message);
  const meta = message.interaction_metadata || message.interaction;
  return el('li', { class: `message${message.flags & EPHEMERAL ? ' ephemeral' : ''}`, dataset: { id: message.id } },
    asked ? el('div', { class: 'used' }, `↳ ${nameOf(asked)} used `, el('span', { class: 'command' }, `/${meta.name || 'a command'}`)) : null,
    el('div', { class: 'head' },
      el('span', { class: 'avatar' }, (author.username || '?')[0].toUpperCase()),
      el('span', { class: 'author' }, author.global_name || author.username || 'unknown'),
      author.bot ? el('span', { class: 'bot-tag' }, 'APP') : null,
      el('time', {}, message.timestamp ? new Date(message.timestamp).toLocaleTimeString() : '')),
    message.flags & LOADING ? el('div', { class: 'thinking' }, `${author.username} is thinking…`) : null,
    message.content ? rich(message.content, 'div', 'content') : null,
    (message.embeds || []).map(renderEmbed),
    (message.components || []).map((row) => el('div', { class: 'row' }, (row.components || []).map((c) => renderComponent(message, c)))),
    message.flags & EPHEMERAL ? el('div', { class: 'only-you' }, 'Only you can see this') : null);
}

function notice(text, cls = 'system') {
  ui('messages').append(el('li', { class: `message ${cls}` }, text));
  ui('messages').scrollTop = ui('messages').scrollHeight;
}

// --- interactions -----------------------------------------------------------------------------

async function answered(ref) {
  const answer = await control(`/interactions/${ref.id}?wait_ms=3500`);
  if (!answer.callback) notice('The application did not respond.', 'system error');
  else if (answer.callback.type === LAUNCH_ACTIVITY) launchActivity(answer.payload?.channel_id || view.channelId);
  else if (answer.callback.type === MODAL) await modal(answer);
  await refreshMessages();
  return answer;
}

async function press(message, customId, values) {
  try {
    const ref = await control('/interactions/component', {
      message_id: message.id, user_id: view.userId, custom_id: customId, ...(values ? { values } : {}),
    });
    await answered(ref);
  } catch (err) {
    notice(`Could not press: ${err.message}`, 'system error');
  }
}

async function modal(answer) {
  const data = answer.callback.data || {};
  const values = {};
  for (const row of data.components || []) {
    for (const input of row.components || []) {
      const text = window.prompt(`${data.title}: ${input.label}`, input.value || '');
      if (text === null) return;
      values[input.custom_id] = text;
    }
  }
  await answered(await control('/interactions/modal', { interaction_id: answer.id, values }));
}

// `/name sub opt:value other:more words` against the registered command.
function parse(text) {
  const words = text.replace(/^\//, '').trimStart();
  const name = words.split(/\s+/)[0];
  const command = view.commands.find((c) => c.name === name);
  if (!command) return { name, command: null, options: [], rest: words.slice(name.length) };
  let options = command.options || [];
  let rest = words.slice(name.length).trimStart();
  let sub = null;
  if (options.some((o) => o.type === OPTION.SUB_COMMAND)) {
    const subName = rest.split(/\s+/)[0];
    sub = options.find((o) => o.name === subName && o.type === OPTION.SUB_COMMAND) || null;
    if (sub) {
      rest = rest.slice(subName.length).trimStart();
      options = sub.options || [];
    } else options = [];
  }
  const names = options.map((o) => o.name.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&'));
  const given = [];
  if (names.length) {
    const token = new RegExp(`(?:^|\\s)(${names.join('|')}):`, 'g');
    const marks = [...rest.matchAll(token)];
    marks.forEach((mark, i) => {
      const start = mark.index + mark[0].length;
      const end = i + 1 < marks.length ? marks[i + 1].index : rest.length;
      given.push({ option: options.find((o) => o.name === mark[1]), value: rest.slice(start, end).trim() });
    });
  }
  return { name, command, sub, options, given, rest };
}

function typed(option, value) {
  if (option.type === OPTION.INTEGER) return Number.parseInt(value, 10);
  if (option.type === OPTION.NUMBER) return Number(value);
  if (option.type === OPTION.BOOLEAN) return value === 'true' || value === 'yes';
  return value;
}

function interactionOptions(parsed, focused) {
  const options = parsed.given.map(({ option, value }) => ({
    name: option.name, value: option === focused ? value : typed(option, value),
  }));
  return parsed.sub ? [{ name: parsed.sub.name, options }] : options;
}

async function run(text) {
  const parsed = parse(text);
  if (!parsed.command) {
    notice(`/${parsed.name} is not a command of this server.`, 'system error');
    return;
  }
  const missing = parsed.options.filter((o) => o.required && !parsed.given.some((g) => g.option === o));
  if (missing.length) {
    notice(`/${parsed.name} needs ${missing.map((o) => `${o.name}:`).join(' ')}`, 'system error');
    return;
  }
  try {
    const ref = await control('/interactions/command', {
      guild_id: view.guildId, channel_id: view.channelId, user_id: view.userId,
      name: parsed.name, options: interactionOptions(parsed),
    });
    await answered(ref);
  } catch (err) {
    notice(`Could not run /${parsed.name}: ${err.message}`, 'system error');
  }
}

// --- the composer: command and option suggestions --------------------------------------------

function showSuggestions(items) {
  view.suggestions = items;
  view.picked = 0;
  const list = ui('suggestions');
  list.hidden = items.length === 0;
  list.replaceChildren(...items.map((item, i) => el('li', {
    role: 'option', class: i === 0 ? 'picked' : '', dataset: { value: item.insert },
    onmousedown: (event) => { event.preventDefault(); pick(i); },
  }, el('strong', {}, item.label), item.about ? el('span', {}, item.about) : null)));
}

function pick(i) {
  const item = view.suggestions[i];
  if (!item) return;
  ui('composer').value = item.insert;
  showSuggestions([]);
  ui('composer').focus();
  suggest();
}

let completion = 0;
async function suggest() {
  const text = ui('composer').value;
  ui('hint').textContent = '';
  if (!text.startsWith('/')) return showSuggestions([]);
  const parsed = parse(text);
  if (!parsed.command) {
    const prefix = text.slice(1).split(/\s+/)[0];
    return showSuggestions(view.commands.filter((c) => c.name.startsWith(prefix))
      .map((c) => ({ label: `/${c.name}`, about: c.description, insert: `/${c.name} ` })));
  }
  if (parsed.command.options?.some((o) => o.type === OPTION.SUB_COMMAND) && !parsed.sub) {
    const prefix = parsed.rest.trim();
    return showSuggestions(parsed.command.options.filter((o) => o.name.startsWith(prefix))
      .map((o) => ({ label: `${parsed.name} ${o.name}`, about: o.description, insert: `/${parsed.name} ${o.name} ` })));
  }
  ui('hint').textContent = parsed.options.map((o) => `${o.name}:${o.required ? '' : '?'}`).join('  ');
  const last = parsed.given[parsed.given.length - 1];
  const untouched = parsed.options.filter((o) => !parsed.given.some((g) => g.option === o));
  if (last && last.option.autocomplete && text.endsWith(last.value) && !/\s$/.test(text)) {
    const mine = ++completion;
    try {
      const ref = await control('/interactions/autocomplete', {
        guild_id: view.guildId, channel_id: view.channelId, user_id: view.userId,
        name: parsed.name, options: interactionOptions(parsed, last.option), focused: last.option.name,
      });
      const answer = await control(`/interactions/${ref.id}?wait_ms=3000`);
      if (mine !== completion) return undefined;
      const head = text.slice(0, text.length - last.value.length);
      return showSuggestions((answer.callback?.data?.choices || []).map((c) => ({
        label: c.name, about: String(c.value), insert: `${head}${c.value} `,
      })));
    } catch (err) {
      return showSuggestions([]);
    }
  }
  if (/\s$/.test(text) || !last) {
    return showSuggestions(untouched.map((o) => ({
      label: `${o.name}:`, about: o.description, insert: `${text.replace(/\s*$/, ' ')}${o.name}:`,
    })));
  }
  if (last.option.choices) {
    const head = text.slice(0, text.length - last.value.length);
    return showSuggestions(last.option.choices.filter((c) => String(c.name).startsWith(last.value))
      .map((c) => ({ label: c.name, insert: `${head}${c.value} ` })));
  }
  return showSuggestions([]);
}

let suggestTimer = null;
ui('composer').addEventListener('input', () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 150);
});
ui('composer').addEventListener('keydown', (event) => {
  const open = !ui('suggestions').hidden && view.suggestions.length;
  if (open && (event.key === 'ArrowDown' || event.key === 'ArrowUp')) {
    event.preventDefault();
    view.picked = (view.picked + (event.key === 'ArrowDown' ? 1 : view.suggestions.length - 1)) % view.suggestions.length;
    [...ui('suggestions').children].forEach((li, i) => li.classList.toggle('picked', i === view.picked));
  } else if (open && event.key === 'Tab') {
    event.preventDefault();
    pick(view.picked);
  } else if (event.key === 'Escape') showSuggestions([]);
});
ui('composer-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui('composer').value.trim();
  if (!text) return;
  ui('composer').value = '';
  showSuggestions([]);
  ui('hint').textContent = '';
  if (text.startsWith('/')) await run(text);
  else {
    try {
      await control(`/channels/${view.channelId}/messages`, { user_id: view.userId, content: text });
    } catch (err) {
      notice(`Not sent: ${err.message}`, 'system error');
    }
  }
  await refreshMessages();
});
ui('member').addEventListener('change', (event) => {
  view.userId = event.target.value;
  view.shown = '';
  renderGuilds();
  refreshMessages();
});

// --- Watch Together ---------------------------------------------------------------------------

// The Activity runs in the channel it was launched in (a voice channel, or the text channel of
// the command, as Discord allows), through the sandbox's host page (the Discord client's
// part); each tab that joins is another participant.
function launchActivity(channelId) {
  const channels = guild()?.channels || [];
  const where = channels.find((c) => c.id === channelId && (c.type === 0 || c.type === 2)) || channels.find((c) => c.type === 2);
  if (!where) return notice('This server has no channel to watch in.', 'system error');
  const query = new URLSearchParams({ user_id: view.userId, channel_id: where.id, platform: 'desktop' });
  ui('activity-frame').src = `${view.config.discord.activity_origin}/.discord/host?${query}`;
  ui('activity').hidden = false;
  ui('activity').dataset.channel = where.id;
  return undefined;
}
ui('close-activity').addEventListener('click', () => {
  ui('activity-frame').src = 'about:blank';
  ui('activity').hidden = true;
});

// --- Kaltura and the resources -----------------------------------------------------------------

// Kaltura's side: an upload finishing (entry ready) or a meeting's recording being ready, shaped
// to match a notification rule of this server (its first category, tag and owner), published
// through the Kaltura sandbox's control API; the notification it sends comes back as a message.
const ENTRY_EVENTS = { entryReady: 'Entry ready', recordingReady: 'Recording ready' };

function rulesOf(state) {
  const configs = state.objects.filter((o) => o.kind === 'GuildConfig' && o.spec.guildId === view.guildId);
  const configOf = (rule) => configs.find((c) => c.metadata.name === rule.spec.guildConfigRef?.name
    && c.metadata.namespace === rule.metadata.namespace);
  const partnerOf = (config) => {
    const app = state.objects.find((o) => o.kind === 'DiscordApplication' && o.metadata.name === config.spec.applicationRef?.name);
    const name = config.spec.partnerRef?.name || app?.spec.defaultPartnerRef?.name;
    const partner = state.objects.find((o) => o.kind === 'KalturaPartner' && o.metadata.name === name);
    return partner?.spec.partnerId ?? view.config.kaltura.partner_id;
  };
  return state.objects.filter((o) => o.kind === 'NotificationRule' && configOf(o))
    .map((rule) => ({ rule, partner: partnerOf(configOf(rule)), events: (rule.spec.events || []).filter((e) => e in ENTRY_EVENTS) }))
    .filter((r) => r.events.length);
}

async function publish({ rule, partner }, event) {
  const filters = rule.spec.filters || {};
  view.published += 1;
  const name = `${event === 'recordingReady' ? 'Recording' : 'Upload'} ${view.published} from the console`;
  const body = {
    name, categories: (filters.categories || []).join(','), tags: (filters.tags || []).join(','),
    userId: (filters.owners || [])[0] || '', duration: 2700, recording: event === 'recordingReady',
  };
  const log = ui('kaltura-log');
  try {
    const res = await fetch(`${view.config.kaltura.base_url}/_sandbox/partners/${partner}/entries`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const entry = await res.json();
    if (!res.ok) throw new Error(entry.error || `${res.status}`);
    log.textContent = `${name} (${entry.id}) is ready: ${rule.metadata.name} posts to #${rule.spec.channel}`;
    const channel = (guild()?.channels || []).find((c) => c.type === 0 && c.name === rule.spec.channel);
    if (channel) await selectChannel(channel.id);
  } catch (err) {
    log.textContent = `Publishing failed: ${err.message}`;
  }
}

function renderKaltura(state) {
  const rules = rulesOf(state);
  const key = JSON.stringify([view.guildId, rules.map((r) => [r.rule.metadata.name, r.partner, r.events])]);
  if (key === view.kalturaShown) return;
  view.kalturaShown = key;
  ui('kaltura-events').replaceChildren(
    el('div', { class: 'muted' }, `partner ${view.config.kaltura.partner_id} at ${view.config.kaltura.base_url}`),
    ...rules.map((r) => el('div', { class: 'rule', dataset: { rule: r.rule.metadata.name } },
      el('div', {}, r.rule.metadata.name, el('span', { class: 'muted' }, ` → #${r.rule.spec.channel}`)),
      r.events.map((e) => el('button', { type: 'button', class: 'button', dataset: { event: e }, onclick: () => publish(r, e) }, ENTRY_EVENTS[e])))),
    ...(rules.length ? [] : [el('div', { class: 'muted' }, 'No notification rule of this server listens for entries.')]),
    el('div', { class: 'muted' }, 'Meetings: /kaltura-start in a channel.'),
    el('div', { id: 'kaltura-log', role: 'status' }));
}

async function refreshResources() {
  const state = await (await fetch('/status.json')).json();
  if (view.config.kaltura) renderKaltura(state);
  ui('resources').replaceChildren(...state.objects.map((o) => {
    const ready = (o.status?.conditions || []).find((c) => c.type === 'Ready');
    return el('li', { class: ready?.status === 'True' ? 'ok' : 'not-ok', title: ready?.message || '' },
      `${o.kind}/${o.metadata.name}`, el('span', {}, ready ? `${ready.status === 'True' ? 'Ready' : ready.reason}` : '…'));
  }));
  ui('refused').hidden = !state.refused.length;
  ui('refused').replaceChildren(el('strong', {}, 'Last edit refused:'), ...state.refused.map((f) => el('div', {}, f)));
}

async function tick(what, every) {
  try {
    await what();
  } catch (err) {
    console.warn(err);
  }
  setTimeout(() => tick(what, every), every);
}

async function start() {
  view.config = await (await fetch('/config.json')).json();
  ui('mode').textContent = view.config.mode.split(':')[0];
  ui('mode').title = view.config.mode;
  if (!view.config.discord) {
    notice(`${view.config.mode}. The console plays Discord in sandbox mode only (kaltura-discord up --sandbox).`);
    return;
  }
  await refreshGuilds();
  await selectGuild(view.guildId);
  tick(refreshMessages, 700);
  tick(async () => { await refreshGuilds(); await refreshCommands(); }, 3000);
  tick(refreshResources, 1500);
  document.body.dataset.ready = 'true';
}

start().catch((err) => notice(`The console could not start: ${err.message}`, 'system error'));
