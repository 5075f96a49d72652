#!/usr/bin/env python3
"""Verifies one openimp webhook with the reference Standard Webhooks library.

Usage: verify_webhook.py SECRET  < delivery.json
where delivery.json is {"headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...},
                        "body": "<the raw body>"}.
Exits 0 and prints "verified" when the signature is valid; exits 1 otherwise.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    secret = sys.argv[1]
    delivery = json.load(sys.stdin)
    try:
        Webhook(secret).verify(delivery["body"], delivery["headers"])
    except WebhookVerificationError as err:
        print(f"invalid: {err}")
        return 1
    except json.JSONDecodeError:
        # The library parses the payload as JSON after the signature matched; a form-encoded
        # body (webhook format "form") is verified but is not JSON.
        pass
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
