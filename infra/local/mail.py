#!/usr/bin/env python3
"""`make mail`: print the latest mails the local emulator's SES accepted.

Usage: mail.py [--endpoint http://127.0.0.1:5000] [--to ADDRESS] [--count 5]
"""

import argparse
import html
import json
import re
import sys
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", default="http://127.0.0.1:5000")
    parser.add_argument("--to", help="only mails to this address")
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()
    try:
        # Served by infra/local/emulator.py; the same records as /moto-api/data.json's ses -> Message.
        with urllib.request.urlopen(f"{args.endpoint}/_local/ses/messages", timeout=5) as r:
            messages = json.load(r)
    except OSError as err:
        print(f"cannot reach the emulator at {args.endpoint}: {err} (is `make dev` running?)", file=sys.stderr)
        return 1
    if args.to:
        messages = [m for m in messages if args.to in m.get("destinations", {}).get("ToAddresses", [])]
    if not messages:
        print("no mail yet")
        return 0
    for m in messages[-args.count:]:
        body = html.unescape(m.get("body", ""))
        links = re.findall(r'https?://[^\s"<>]+', body)
        print("-" * 72)
        print(f"To:      {', '.join(m.get('destinations', {}).get('ToAddresses', []))}")
        print(f"From:    {m.get('source')}")
        print(f"Subject: {m.get('subject')}")
        for link in dict.fromkeys(links):
            print(f"Link:    {link}")
        token = re.search(r"token=([A-Za-z0-9_.-]+)", body)
        if token:
            print(f"Token:   {token.group(1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
