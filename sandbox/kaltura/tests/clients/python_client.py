"""Drive the Kaltura sandbox with the official Python client (PyPI KalturaApiClient, XML format).

Env: KALTURA_URL, KALTURA_PARTNER_ID, KALTURA_ADMIN_SECRET, EXPECT_PHYSICS_TOTAL.
Checks every result itself (exit 1 on a mismatch) and prints one JSON summary line for the Rust
test to assert on.
"""
import json
import os
import sys
import time

from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.Plugins.Core import (
    KalturaFilterPager, KalturaMediaEntry, KalturaMediaEntryFilter, KalturaSessionType, KalturaUser,
    KalturaUserFilter,
)
from KalturaClient.Plugins.ElasticSearch import (
    KalturaESearchEntryOperator, KalturaESearchEntryParams, KalturaESearchItemType,
    KalturaESearchOperatorType, KalturaESearchUnifiedItem,
)
from KalturaClient.Plugins.Schedule import (
    KalturaLocationScheduleResource, KalturaRecordScheduleEvent, KalturaScheduleEventFilter,
    KalturaScheduleEventRecurrenceType, KalturaScheduleEventResource, KalturaScheduleEventStatus,
)
from KalturaClient.exceptions import KalturaException

failures = []


def check(name, condition, detail=""):
    if not condition:
        failures.append("%s: %s" % (name, detail))


url = os.environ["KALTURA_URL"]
partner_id = int(os.environ["KALTURA_PARTNER_ID"])
secret = os.environ["KALTURA_ADMIN_SECRET"]
expect_physics = int(os.environ["EXPECT_PHYSICS_TOTAL"])

config = KalturaConfiguration(partner_id)
config.serviceUrl = url
client = KalturaClient(config)

# session.start
ks = client.session.start(secret, "python-tester", KalturaSessionType.ADMIN, partner_id, 3600, "disableentitlement")
check("session.start returns a KS", isinstance(ks, str) and len(ks) > 40, repr(ks))
client.setKs(ks)

# media.list with a filter and a pager (page 2 of 3)
flt = KalturaMediaEntryFilter()
flt.freeText = "physics"
flt.orderBy = "+name"
pager = KalturaFilterPager()
pager.pageSize = 3
pager.pageIndex = 2
page = client.media.list(flt, pager)
names = [e.name for e in page.objects]
check("media.list totalCount", page.totalCount == expect_physics, page.totalCount)
check("media.list page size", len(page.objects) == 3, names)
check("media.list sorted", names == sorted(names, key=str.lower), names)
check("media.list objects typed", all(isinstance(e, KalturaMediaEntry) for e in page.objects))
check("media.list matches", all("PHYS" in n for n in names), names)
check("media.list duration int", all(isinstance(e.duration, int) and e.duration > 0 for e in page.objects))

# media.get of a missing id
missing_code = None
try:
    client.media.get("0_nosuch00")
except KalturaException as err:
    missing_code = err.code
    check("missing entry message", '"0_nosuch00"' in err.message, err.message)
check("media.get missing -> ENTRY_ID_NOT_FOUND", missing_code == "ENTRY_ID_NOT_FOUND", missing_code)

# media.get of a present id
first = client.media.get(page.objects[0].id)
check("media.get", first.name == names[0], first.name)

# eSearch
item = KalturaESearchUnifiedItem()
item.searchTerm = "revolution"
item.itemType = KalturaESearchItemType.PARTIAL
item.addHighlight = True
operator = KalturaESearchEntryOperator()
operator.operator = KalturaESearchOperatorType.AND_OP
operator.searchItems = [item]
params = KalturaESearchEntryParams()
params.searchOperator = operator
found = client.elasticSearch.eSearch.searchEntry(params, KalturaFilterPager())
found_names = [r.object.name for r in found.objects]
check("eSearch count", found.totalCount == 2, found.totalCount)
check("eSearch finds the revolution lectures",
      sorted(n.split(": ", 1)[1] for n in found_names) == ["The Industrial Revolution", "The Scientific Revolution"],
      found_names)
check("eSearch highlight", any(h.hits and "<em>" in h.hits[0].value for r in found.objects for h in r.highlight),
      "no highlight")

# user add / get
user = KalturaUser()
user.id = "py.student"
user.firstName = "Py"
user.lastName = "Student"
user.email = "py.student@campus.example"
user.isAdmin = False
added = client.user.add(user)
check("user.add", added.id == "py.student" and added.fullName == "Py Student", added.fullName)
got = client.user.get("py.student")
check("user.get", got.email == "py.student@campus.example" and got.isAdmin is False, (got.email, got.isAdmin))
dup_code = None
try:
    client.user.add(user)
except KalturaException as err:
    dup_code = err.code
check("duplicate user", dup_code == "DUPLICATE_USER_BY_ID", dup_code)
missing_user = None
try:
    client.user.get("nobody.here")
except KalturaException as err:
    missing_user = err.code
check("missing user", missing_user == "INVALID_USER_ID", missing_user)


def error_code(call):
    try:
        call()
    except KalturaException as err:
        return err.code
    return None


# what user sync does: a discord_<id> user with a screen name and one role, updated, listed by id
sync = KalturaUser()
sync.id = "discord_1234"
sync.screenName = "Ada"
sync.roleIds = "1001"
synced = client.user.add(sync)
check("user.add defaults", synced.firstName == "discord_1234" and synced.roleNames == "Viewer",
      (synced.firstName, synced.roleNames))
change = KalturaUser()
change.roleIds = "1002"
changed = client.user.update("discord_1234", change)
check("user.update role", changed.roleIds == "1002" and changed.roleNames == "Moderator" and changed.screenName == "Ada",
      (changed.roleIds, changed.roleNames, changed.screenName))
bad_role = KalturaUser()
bad_role.roleIds = "999999"
check("unknown role", error_code(lambda: client.user.update("discord_1234", bad_role)) == "USER_ROLE_NOT_FOUND")
bad_id = KalturaUser()
bad_id.id = "has space"
check("invalid id", error_code(lambda: client.user.add(bad_id)) == "INVALID_FIELD_VALUE")
by_id = KalturaUserFilter()
by_id.idIn = "discord_1234,py.student,nobody.here"
listed_users = client.user.list(by_id)
check("user.list idIn", sorted(u.id for u in listed_users.objects) == ["discord_1234", "py.student"],
      [u.id for u in listed_users.objects])
deleted = client.user.delete("discord_1234")
check("user.delete", deleted.status.getValue() == 3, deleted.status.getValue())
check("deleted user is gone", error_code(lambda: client.user.get("discord_1234")) == "INVALID_USER_ID")
check("deleted user unlisted", client.user.list(by_id).totalCount == 1)
check("re-add after delete", client.user.add(sync).status.getValue() == 1)

# multirequest: the second call takes the first call's first entry id
client.startMultiRequest()
mr_filter = KalturaMediaEntryFilter()
mr_filter.nameLike = "Newton"
listed = client.media.list(mr_filter)
client.media.get(listed.objects[0].id)
client.media.get("0_nosuch00")
results = client.doMultiRequest()
check("multirequest size", len(results) == 3, len(results))
check("multirequest list", results[0].totalCount == 1, results[0].totalCount)
check("multirequest reference", results[1].id == results[0].objects[0].id, (results[1].id,))
check("multirequest error item", isinstance(results[2], KalturaException) and results[2].code == "ENTRY_ID_NOT_FOUND",
      repr(results[2]))

# Kaltura Meetings room through the schedule plugin, as the product creates it.
resource = KalturaLocationScheduleResource()
resource.name = "Python room"
resource.tags = "vcprovider:newrow,discordguildpy"
resource = client.schedule.scheduleResource.add(resource)
event = KalturaRecordScheduleEvent()
event.summary = "Python meeting"
event.startDate = int(time.time())
event.endDate = int(time.time()) + 3600
event.recurrenceType = KalturaScheduleEventRecurrenceType.NONE
event.tags = "discordguildpy"
event = client.schedule.scheduleEvent.add(event)
link = KalturaScheduleEventResource()
link.eventId = event.id
link.resourceId = resource.id
link = client.schedule.scheduleEventResource.add(link)
check("schedule link", (link.eventId, link.resourceId) == (event.id, resource.id), (link.eventId, link.resourceId))
check("schedule event typed", isinstance(event, KalturaRecordScheduleEvent)
      and event.status.getValue() == KalturaScheduleEventStatus.ACTIVE, repr(event.status))
event_filter = KalturaScheduleEventFilter()
event_filter.tagsMultiLikeOr = "discordguildpy"
event_filter.statusEqual = KalturaScheduleEventStatus.ACTIVE
active = client.schedule.scheduleEvent.list(event_filter)
check("schedule list", [e.id for e in active.objects] == [event.id], [e.id for e in active.objects])
cancelled = client.schedule.scheduleEvent.cancel(event.id)
check("schedule cancel", cancelled.status.getValue() == KalturaScheduleEventStatus.CANCELLED, repr(cancelled.status))
check("schedule list after cancel", client.schedule.scheduleEvent.list(event_filter).totalCount == 0)

summary = {
    "client": "python",
    "ks_length": len(ks),
    "page_names": names,
    "esearch_total": found.totalCount,
    "user": got.id,
    "multirequest_entry": results[1].id,
    "failures": failures,
}
print(json.dumps(summary))
sys.exit(1 if failures else 0)
