// Drive the Kaltura sandbox with the official Node client (npm kaltura-client, JSON format).
// Env: KALTURA_URL, KALTURA_PARTNER_ID, KALTURA_ADMIN_SECRET, EXPECT_PHYSICS_TOTAL.
// Checks every result itself (exit 1 on a mismatch) and prints one JSON summary line.
'use strict';
const kaltura = require('kaltura-client');

const url = process.env.KALTURA_URL;
const partnerId = parseInt(process.env.KALTURA_PARTNER_ID, 10);
const secret = process.env.KALTURA_ADMIN_SECRET;
const expectPhysics = parseInt(process.env.EXPECT_PHYSICS_TOTAL, 10);

const failures = [];
function check(name, condition, detail) {
	if (!condition) failures.push(`${name}: ${JSON.stringify(detail)}`);
}

async function expectError(request, client) {
	try {
		await request.execute(client);
		return null;
	} catch (err) {
		return err;
	}
}

async function main() {
	const config = new kaltura.Configuration();
	config.serviceUrl = url;
	const client = new kaltura.Client(config);

	// session.start
	const ks = await kaltura.services.session
		.start(secret, 'node-tester', kaltura.enums.SessionType.ADMIN, partnerId, 3600, 'disableentitlement')
		.execute(client);
	check('session.start returns a KS', typeof ks === 'string' && ks.length > 40, ks && ks.length);
	client.setKs(ks);

	// media.list with a filter and a pager (page 2 of 3)
	const filter = new kaltura.objects.MediaEntryFilter({ freeText: 'physics', orderBy: '+name' });
	const pager = new kaltura.objects.FilterPager({ pageSize: 3, pageIndex: 2 });
	const page = await kaltura.services.media.listAction(filter, pager).execute(client);
	const names = page.objects.map((e) => e.name);
	check('media.list totalCount', page.totalCount === expectPhysics, page.totalCount);
	check('media.list page size', names.length === 3, names);
	const sorted = [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
	check('media.list sorted', JSON.stringify(sorted) === JSON.stringify(names), names);
	check('media.list objectType', page.objectType === 'KalturaMediaListResponse', page.objectType);
	check('media.list numbers stay numbers', page.objects.every((e) => typeof e.duration === 'number'), page.objects[0]);

	// media.get of a missing id
	const missing = await expectError(kaltura.services.media.get('0_nosuch00'), client);
	check('media.get missing -> ENTRY_ID_NOT_FOUND', missing && missing.code === 'ENTRY_ID_NOT_FOUND', missing);
	check('missing entry args', missing && missing.args && missing.args.ENTRY_ID === '0_nosuch00', missing);

	// eSearch
	const item = new kaltura.objects.ESearchUnifiedItem({
		searchTerm: 'revolution',
		itemType: kaltura.enums.ESearchItemType.PARTIAL,
		addHighlight: true,
	});
	const operator = new kaltura.objects.ESearchEntryOperator({
		operator: kaltura.enums.ESearchOperatorType.AND_OP,
		searchItems: [item],
	});
	const params = new kaltura.objects.ESearchEntryParams({ searchOperator: operator });
	const found = await kaltura.services.eSearch.searchEntry(params, new kaltura.objects.FilterPager()).execute(client);
	const foundNames = found.objects.map((r) => r.object.name);
	check('eSearch count', found.totalCount === 2, found.totalCount);
	check('eSearch finds the revolution lectures', foundNames.length === 2 && foundNames.every((n) => / Revolution$/.test(n)), foundNames);
	check('eSearch result type', found.objects.every((r) => r.objectType === 'KalturaESearchEntryResult'), found.objects[0]);

	// user add / get
	const user = new kaltura.objects.User({
		id: 'node.student',
		firstName: 'Node',
		lastName: 'Student',
		email: 'node.student@campus.example',
		isAdmin: false,
	});
	const added = await kaltura.services.user.add(user).execute(client);
	check('user.add', added.id === 'node.student' && added.fullName === 'Node Student', added);
	const got = await kaltura.services.user.get('node.student').execute(client);
	check('user.get', got.email === 'node.student@campus.example' && got.isAdmin === false, got);
	const noUser = await expectError(kaltura.services.user.get('nobody.here'), client);
	check('missing user', noUser && noUser.code === 'INVALID_USER_ID', noUser);

	// what user sync does: a discord_<id> user with a screen name and one role, updated, listed by id
	const sync = new kaltura.objects.User({ id: 'discord_5678', screenName: 'Bob', roleIds: '1001' });
	const synced = await kaltura.services.user.add(sync).execute(client);
	check('user.add defaults', synced.firstName === 'discord_5678' && synced.roleNames === 'Viewer', synced);
	const changed = await kaltura.services.user
		.update('discord_5678', new kaltura.objects.User({ roleIds: '1002' }))
		.execute(client);
	check('user.update role', changed.roleIds === '1002' && changed.roleNames === 'Moderator' && changed.screenName === 'Bob', changed);
	const badRole = await expectError(
		kaltura.services.user.update('discord_5678', new kaltura.objects.User({ roleIds: '999999' })),
		client,
	);
	check('unknown role', badRole && badRole.code === 'USER_ROLE_NOT_FOUND', badRole);
	const dupSync = await expectError(kaltura.services.user.add(sync), client);
	check('duplicate id', dupSync && dupSync.code === 'DUPLICATE_USER_BY_ID' && dupSync.message.includes('discord_5678'), dupSync);
	const byId = new kaltura.objects.UserFilter({ idIn: 'discord_5678,node.student,nobody.here' });
	const listedUsers = await kaltura.services.user.listAction(byId).execute(client);
	check('user.list idIn', listedUsers.objects.map((u) => u.id).sort().join() === 'discord_5678,node.student', listedUsers);
	const deleted = await kaltura.services.user.deleteAction('discord_5678').execute(client);
	check('user.delete', deleted.status === 3, deleted);
	const gone = await expectError(kaltura.services.user.get('discord_5678'), client);
	check('deleted user is gone', gone && gone.code === 'INVALID_USER_ID', gone);

	// multirequest: the second call takes the first call's first entry id
	const results = await kaltura.services.media
		.listAction(new kaltura.objects.MediaEntryFilter({ nameLike: 'Newton' }))
		.add(kaltura.services.media.get('{1:result:objects:0:id}'))
		.add(kaltura.services.media.get('0_nosuch00'))
		.execute(client);
	check('multirequest size', Array.isArray(results) && results.length === 3, results);
	check('multirequest list', results[0].totalCount === 1, results[0]);
	check('multirequest reference', results[1].id === results[0].objects[0].id, results[1]);
	check('multirequest error item', results[2].code === 'ENTRY_ID_NOT_FOUND', results[2]);

	// Kaltura Meetings room through the schedule plugin, with the links chained in one multirequest.
	const now = Math.floor(Date.now() / 1000);
	const created = await kaltura.services.scheduleResource
		.add(new kaltura.objects.LocationScheduleResource({ name: 'Node room', tags: 'vcprovider:newrow,discordguildnode' }))
		.add(kaltura.services.scheduleEvent.add(new kaltura.objects.RecordScheduleEvent({
			summary: 'Node meeting', startDate: now, endDate: now + 3600, recurrenceType: 0, tags: 'discordguildnode',
		})))
		.add(kaltura.services.scheduleEventResource.add(new kaltura.objects.ScheduleEventResource({
			eventId: '{2:result:id}', resourceId: '{1:result:id}',
		})))
		.execute(client);
	const [room, meeting, link] = created;
	check('schedule objects', room.objectType === 'KalturaLocationScheduleResource'
		&& meeting.objectType === 'KalturaRecordScheduleEvent' && meeting.status === 2, created);
	check('schedule link by reference', link.eventId === meeting.id && link.resourceId === room.id, link);
	const eventFilter = new kaltura.objects.ScheduleEventFilter({ tagsMultiLikeOr: 'discordguildnode', statusEqual: 2 });
	const active = await kaltura.services.scheduleEvent.listAction(eventFilter).execute(client);
	check('schedule list', active.totalCount === 1 && active.objects[0].id === meeting.id, active);
	const cancelled = await kaltura.services.scheduleEvent.cancel(meeting.id).execute(client);
	check('schedule cancel', cancelled.status === 1, cancelled);

	console.log(JSON.stringify({
		client: 'node',
		ks_length: ks.length,
		page_names: names,
		esearch_total: found.totalCount,
		user: got.id,
		multirequest_entry: results[1].id,
		failures,
	}));
	process.exit(failures.length ? 1 : 0);
}

main().catch((err) => {
	console.error('node client script failed:', err);
	process.exit(2);
});
