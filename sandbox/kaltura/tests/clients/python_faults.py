"""The official Python client (XML) against the sandbox's fault knobs, set through its control API.

Env: KALTURA_URL, KALTURA_PARTNER_ID, KALTURA_ADMIN_SECRET.
Checks every result itself (exit 1 on a mismatch) and prints one JSON summary line.
"""
import json
import os
import sys
import time
import urllib.request

from KalturaClient import KalturaClient, KalturaConfiguration
from KalturaClient.Plugins.Core import KalturaFilterPager, KalturaMediaEntryFilter, KalturaSessionType
from KalturaClient.exceptions import KalturaClientException, KalturaException

failures = []
seen = {}


def check(name, condition, detail=""):
    if not condition:
        failures.append("%s: %s" % (name, detail))


url = os.environ["KALTURA_URL"]
partner_id = int(os.environ["KALTURA_PARTNER_ID"])
secret = os.environ["KALTURA_ADMIN_SECRET"]


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


config = KalturaConfiguration(partner_id)
config.serviceUrl = url
client = KalturaClient(config)
ks = client.session.start(secret, "py-faults", KalturaSessionType.ADMIN, partner_id, 3600, "")
client.setKs(ks)
pager = KalturaFilterPager()
pager.pageSize = 1


def media_list():
    return client.media.list(KalturaMediaEntryFilter(), pager)


def api_error(call):
    try:
        call()
    except KalturaException as e:
        return e.code, e.message
    return None, None


check("a valid KS works", media_list().totalCount > 0)

# Every KS refused as expired: an in-band INVALID_KS that the client raises as a KalturaException.
control("PUT", "/_sandbox/faults/refuse-ks", {"reason": "EXPIRED"})
code, message = api_error(media_list)
seen["refused"] = [code, message.endswith('Error "-5,EXPIRED"') if message else None]
check("refused KS code", code == "INVALID_KS", code)
check("refused KS reason", message is not None and '"-5,EXPIRED"' in message, message)
check("session.start needs no KS", isinstance(client.session.start(secret, "x", KalturaSessionType.ADMIN, partner_id), str))
control("DELETE", "/_sandbox/faults/refuse-ks")
check("accepted again", media_list().totalCount > 0)

# A front end answering 503: no KalturaAPIException, the client reports a broken answer.
control("PUT", "/_sandbox/faults/errors", {"status": 503})
try:
    media_list()
    seen["http_503"] = "answered"
except KalturaClientException as e:
    seen["http_503"] = "client exception"
except KalturaException as e:
    seen["http_503"] = "api exception " + e.code
control("DELETE", "/_sandbox/faults/errors")

# Slow answers.
control("PUT", "/_sandbox/faults/slow", {"delay_ms": 300, "jitter_ms": 50})
started = time.time()
media_list()
seen["slow_seconds"] = round(time.time() - started, 3)
control("DELETE", "/_sandbox/faults/slow")

# A rotated admin secret: the old KS and the old secret are refused, the new secret works.
rotated = control("POST", "/_sandbox/partners/%d/rotate-secret" % partner_id, {})
new_secret = rotated["admin_secret"]
check("a new secret", new_secret and new_secret != secret, rotated)
code, message = api_error(media_list)
seen["old_ks"] = code
check("old KS refused", code == "INVALID_KS" and '"-1,INVALID_STR"' in (message or ""), message)
code, message = api_error(lambda: client.session.start(secret, "x", KalturaSessionType.ADMIN, partner_id))
seen["old_secret"] = code
check("old secret refused", code == "START_SESSION_ERROR", code)
client.setKs(client.session.start(new_secret, "py-faults", KalturaSessionType.ADMIN, partner_id, 3600, ""))
check("the new secret works", media_list().totalCount > 0)

print(json.dumps({"client": "python", "failures": failures, **seen}))
sys.exit(1 if failures else 0)
