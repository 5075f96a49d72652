#!/usr/bin/env python3
"""Verifies one openimp webhook with the reference Standard Webhooks library.

Usage: verify_webhook.py SECRET  < delivery.json
where delivery.json is {"headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...},
                        "body": "<the raw body>"}.
Exits 0 and prints "verified" when the signature is valid; exits 1 otherwise.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    secret = sys.argv[1]
    delivery = json.load(sys.stdin)
    try:
        Webhook(secret).verify(delivery["body"], delivery["headers"])
    except Exception as err:  # the library raises WebhookVerificationError
        print(f"invalid: {err}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
