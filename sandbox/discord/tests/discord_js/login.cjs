// discord.js, unmodified, pointed at the sandbox: only `rest.api` changes; the gateway URL
// comes from GET /gateway/bot like against Discord. Prints one JSON line on success.
const { Client, Events, GatewayIntentBits } = require('discord.js');

const { KD_DISCORD_API, KD_DISCORD_TOKEN, KD_DISCORD_GUILD, KD_DISCORD_CHANNEL } = process.env;
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages],
  rest: { api: KD_DISCORD_API },
});

const fail = (message) => {
  console.error(message);
  process.exit(1);
};
const timer = setTimeout(() => fail('timed out waiting for ready'), 30000);

client.once(Events.ClientReady, async (ready) => {
  try {
    const guild = ready.guilds.cache.get(KD_DISCORD_GUILD);
    if (!guild || !guild.available) fail(`guild ${KD_DISCORD_GUILD} missing from READY/GUILD_CREATE`);
    const channel = guild.channels.cache.get(KD_DISCORD_CHANNEL);
    if (!channel) fail(`channel ${KD_DISCORD_CHANNEL} missing from GUILD_CREATE`);
    const message = await channel.send({ content: 'hello from discord.js', embeds: [{ title: 'embed' }] });
    console.log(JSON.stringify({
      user: ready.user.id,
      guild: guild.name,
      channels: guild.channels.cache.size,
      roles: guild.roles.cache.size,
      message: message.id,
    }));
    clearTimeout(timer);
    await client.destroy();
    process.exit(0);
  } catch (error) {
    fail(error.stack || String(error));
  }
});

client.login(KD_DISCORD_TOKEN).catch((error) => fail(error.stack || String(error)));
