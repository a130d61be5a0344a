"""Verifies webhooks with the Standard Webhooks reference library.

Reads one JSON object per line on standard input,
{"secret": "whsec_...", "headers": {...}, "body": "<the raw body>"}, and
writes one per line: {"ok": true, "payload": <the parsed body>} or
{"ok": false, "error": "..."}.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook

for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    try:
        payload = Webhook(request["secret"]).verify(request["body"], request["headers"])
        print(json.dumps({"ok": True, "payload": payload}), flush=True)
    except Exception as error:  # noqa: BLE001 - the answer names any failure
        print(json.dumps({"ok": False, "error": repr(error)}), flush=True)
