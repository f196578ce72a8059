"""Writes the revocation paths of up to N active certificates of a control plane, one per line
(`/api/v1/certificates/{id}/revoke`), for sigil-load's `--path-file` (each revoked once with
`--dist sequential`); prints how many. Shared by issuance-peers.sh and storage-peers.sh.

usage: active_cert_paths.py HOST:PORT N OUT   (the admin token from SIGIL_ADMIN_TOKEN)
"""

import json
import os
import sys
import urllib.request

cp, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ids, page = [], 1
auth = {"Authorization": "Bearer " + os.environ["SIGIL_ADMIN_TOKEN"]}
while len(ids) < n:
    req = urllib.request.Request(f"http://{cp}/api/v1/certificates?status=active&per_page=500&page={page}", headers=auth)
    data = json.load(urllib.request.urlopen(req))["data"]
    if not data:
        break
    ids += [c["id"] for c in data]
    page += 1
open(out, "w").write("".join(f"/api/v1/certificates/{i}/revoke\n" for i in ids[:n]))
print(len(ids[:n]))
