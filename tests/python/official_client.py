#!/usr/bin/env python3
"""Drive the official i'mport Python client (PyPI iamport-rest-client==0.9.0) against openimp.

Usage: python tests/python/official_client.py [PATH_TO_OPENIMP_BINARY]
(or set OPENIMP_BIN; the default is target/debug/openimp in this repository).

The script starts its own server (`openimp serve --listen 127.0.0.1:0` on a fresh data
directory), waits for the line `openimp listening on http://127.0.0.1:PORT`, creates a merchant
with `openimp merchant create --json`, then exercises the client: token, billing-key issue, get
and delete, one-time and again payments, find by merchant_uid and imp_uid, partial and full
cancel, is_paid, a declined card, and the error paths. Each check prints one line; the last line
is `N passed, M failed`, and the exit status is 1 if anything failed. The server is always
stopped at the end.
"""

import functools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from iamport import Iamport

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTENING = re.compile(r"openimp listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECS = 60
REQUEST_TIMEOUT_SECS = 30
WHOLE_RUN_TIMEOUT_SECS = 300

# Sandbox test cards (crates/pg/src/sandbox.rs): the last four digits pick the behaviour.
GOOD_CARD = dict(card_number="4092-0230-1234-5678", expiry="2030-12", birth="820213", pwd_2digit="00")
# Issues a billing key, but every charge is declined (insufficient balance).
DECLINE_CARD = dict(card_number="4092-0230-1234-0002", expiry="2030-12", birth="820213", pwd_2digit="00")
# Card authentication fails: the billing key is refused.
REFUSED_CARD = dict(card_number="4092-0230-1234-0005", expiry="2030-12", birth="820213", pwd_2digit="00")


class Checks:
    """Counts results and prints one line per check."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)
        return bool(condition)

    def run(self, name, func):
        """Runs func(), which returns (condition, detail); an exception is a failure."""
        try:
            condition, detail = func()
        except Exception as err:  # noqa: BLE001 - every error is a failed check here
            return self.check(name, False, f"{type(err).__name__}: {describe(err)}")
        return self.check(name, condition, detail)

    def raises(self, name, exc_type, func, expect=None):
        """Checks that func() raises exc_type, and that expect(err) holds if given."""
        try:
            result = func()
        except exc_type as err:
            if expect is None:
                return self.check(name, True)
            return self.check(name, expect(err), f"raised {describe(err)}")
        except Exception as err:  # noqa: BLE001
            return self.check(name, False, f"raised {type(err).__name__}: {describe(err)}")
        return self.check(name, False, f"no error; returned {short(result)}")


def describe(err):
    if isinstance(err, Iamport.ResponseError):
        return f"ResponseError(code={err.code!r}, message={err.message!r})"
    if isinstance(err, Iamport.HttpError):
        return f"HttpError(code={err.code!r}, reason={err.reason!r})"
    return str(err)


def short(value, limit=400):
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


class Server:
    """An `openimp serve` child process on a random loopback port."""

    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = os.path.join(data_dir, "server.log")
        self.stdout_lines = []
        self.process = None
        self.base_url = None

    def start(self):
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
            bufsize=1,
        )
        lines = queue.Queue()

        def pump():
            # Keeps draining stdout for the whole run so the server never blocks on a full pipe.
            for line in self.process.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"no listening line within {START_TIMEOUT_SECS} s")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"server exited with status {self.process.wait()} before listening")
            match = LISTENING.search(line)
            if match:
                self.base_url = match.group(1)
                return self.base_url

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_file.close()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as log:
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join((self.stdout_lines + text.splitlines())[-lines:])


def create_merchant(binary, data_dir):
    result = subprocess.run(
        [binary, "merchant", "create", "--name", "py", "--json", "--data-dir", data_dir],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"merchant create exited {result.returncode}: {result.stderr.strip()}")
    merchant = parse_json_object(result.stdout)
    if merchant is None:
        raise RuntimeError(f"merchant create printed no JSON object: {result.stdout!r}")
    missing = {"imp_code", "imp_key", "imp_secret"} - merchant.keys()
    if missing:
        raise RuntimeError(f"merchant create output lacks {sorted(missing)}: {result.stdout!r}")
    return merchant


def parse_json_object(text):
    """The JSON object in text: all of it, one line of it, or from its first `{` on."""
    candidates = [text] + list(reversed(text.splitlines()))
    if "{" in text:
        candidates.append(text[text.index("{"):])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def make_client(base_url, imp_key, imp_secret):
    client = Iamport(imp_key=imp_key, imp_secret=imp_secret, imp_url=base_url + "/")
    # The client sets no timeout; give every request one so a stuck server cannot hang us.
    session = client.requests_session
    session.request = functools.partial(session.request, timeout=REQUEST_TIMEOUT_SECS)
    return client


def exercise(checks, iamport, base_url, merchant):
    run_id = uuid.uuid4().hex[:10]
    customer_uid = f"py-cust-{run_id}"
    amount = 1000

    # Token.
    tokens = []

    def token():
        tokens.append(iamport._get_token())
        return isinstance(tokens[0], str) and len(tokens[0]) >= 16, f"token {tokens[0]!r}"

    checks.run("getToken returns an access_token", token)
    checks.run(
        "getToken again before expiry returns the same token",
        lambda: (iamport._get_token() == tokens[0], "a different token came back"),
    )
    bad_client = make_client(base_url, merchant["imp_key"], "wrong-secret")
    checks.raises(
        "getToken with a wrong secret is HTTP 401",
        Iamport.HttpError,
        bad_client._get_token,
        expect=lambda err: err.code == 401,
    )

    # Billing key issue and get.
    def customer_create():
        customer = iamport.customer_create(customer_uid=customer_uid, **GOOD_CARD)
        ok = (
            customer["customer_uid"] == customer_uid
            and customer.get("card_number") not in (None, GOOD_CARD["card_number"], "4092023012345678")
            and bool(customer.get("card_name"))
            and isinstance(customer.get("inserted"), int)
        )
        return ok, short(customer)

    checks.run("customer_create issues a billing key (masked card)", customer_create)

    def customer_get():
        customer = iamport.customer_get(customer_uid)
        ok = customer["customer_uid"] == customer_uid and bool(customer.get("pg_provider"))
        return ok, short(customer)

    checks.run("customer_get returns the billing key", customer_get)

    # One-time keyed payment.
    onetime_uid = f"py-onetime-{run_id}"
    onetime = {}

    def pay_onetime():
        payment = iamport.pay_onetime(merchant_uid=onetime_uid, amount=amount, name="py onetime", **GOOD_CARD)
        onetime.update(payment)
        ok = (
            payment["status"] == "paid"
            and payment["merchant_uid"] == onetime_uid
            and payment["amount"] == amount
            and bool(payment.get("imp_uid"))
            and payment.get("paid_at", 0) > 0
        )
        return ok, short(payment)

    checks.run("pay_onetime is paid", pay_onetime)

    # Again with the stored key.
    again_uid = f"py-again-{run_id}"
    again = {}

    def pay_again():
        payment = iamport.pay_again(customer_uid=customer_uid, merchant_uid=again_uid, amount=amount, name="py again")
        again.update(payment)
        ok = (
            payment["status"] == "paid"
            and payment["merchant_uid"] == again_uid
            and payment["amount"] == amount
            and payment.get("customer_uid") == customer_uid
            and payment.get("customer_uid_usage") == "payment"
            and payment.get("cancel_amount") == 0
            and payment.get("cancel_history") == []
        )
        return ok, short(payment)

    checks.run("pay_again is paid", pay_again)
    checks.raises(
        "pay_again with a merchant_uid already paid is refused",
        (Iamport.ResponseError, Iamport.HttpError),
        lambda: iamport.pay_again(customer_uid=customer_uid, merchant_uid=again_uid, amount=amount, name="dup"),
    )

    # Find.
    checks.run(
        "find(merchant_uid=) returns the again payment",
        lambda: (
            (lambda p: (p["imp_uid"] == again.get("imp_uid") and p["status"] == "paid", short(p)))(
                iamport.find(merchant_uid=again_uid)
            )
        ),
    )
    checks.run(
        "find(imp_uid=) returns the onetime payment",
        lambda: (
            (lambda p: (p["merchant_uid"] == onetime_uid and p["amount"] == amount, short(p)))(
                iamport.find(imp_uid=onetime["imp_uid"])
            )
        ),
    )
    checks.raises(
        "find(imp_uid=) of an unknown payment is HTTP 404",
        Iamport.HttpError,
        lambda: iamport.find(imp_uid=f"imps_{run_id}000"),
        expect=lambda err: err.code == 404,
    )

    # is_paid.
    checks.run("is_paid(amount, merchant_uid=) is True", lambda: (iamport.is_paid(amount, merchant_uid=again_uid) is True, ""))
    checks.run("is_paid with another amount is False", lambda: (iamport.is_paid(amount + 1, merchant_uid=again_uid) is False, ""))

    # Cancel: partial, then full.
    def cancel_partial():
        payment = iamport.cancel("partial refund", imp_uid=again["imp_uid"], amount=300)
        ok = (
            payment["status"] == "paid"
            and payment["cancel_amount"] == 300
            and len(payment.get("cancel_history", [])) == 1
            and payment["cancel_history"][0]["amount"] == 300
        )
        return ok, short(payment)

    checks.run("cancel partial (300) keeps status paid", cancel_partial)

    def cancel_full():
        payment = iamport.cancel("full refund", imp_uid=again["imp_uid"])
        ok = (
            payment["status"] == "cancelled"
            and payment["cancel_amount"] == amount
            and len(payment.get("cancel_history", [])) == 2
            and payment.get("cancelled_at", 0) > 0
        )
        return ok, short(payment)

    checks.run("cancel full cancels the rest", cancel_full)
    checks.run("is_paid after the full cancel is False", lambda: (iamport.is_paid(amount, imp_uid=again["imp_uid"]) is False, ""))
    checks.raises(
        "cancel of a fully cancelled payment is refused (HTTP 200, code != 0)",
        Iamport.ResponseError,
        lambda: iamport.cancel("again", imp_uid=again["imp_uid"]),
        expect=lambda err: err.code != 0,
    )
    checks.run(
        "cancel by merchant_uid (onetime payment, full)",
        lambda: (
            (lambda p: (p["status"] == "cancelled" and p["cancel_amount"] == amount, short(p)))(
                iamport.cancel("by merchant_uid", merchant_uid=onetime_uid)
            )
        ),
    )

    # A declined card: code 0, status failed, and the failed payment can be found.
    decline_uid = f"py-decline-{run_id}"

    def decline():
        payment = iamport.pay_onetime(merchant_uid=decline_uid, amount=amount, name="py decline", **DECLINE_CARD)
        ok = payment["status"] == "failed" and bool(payment.get("fail_reason")) and payment.get("failed_at", 0) > 0
        return ok, short(payment)

    checks.run("pay_onetime with the decline card (...0002) is status failed", decline)
    checks.run(
        "find(merchant_uid=) of the declined payment is status failed",
        lambda: ((lambda p: (p["status"] == "failed", short(p)))(iamport.find(merchant_uid=decline_uid))),
    )
    checks.run("is_paid of the declined payment is False", lambda: (iamport.is_paid(amount, merchant_uid=decline_uid) is False, ""))

    # A billing key on the decline card issues, and charging it gives code 0 with status failed.
    decline_customer_uid = f"py-decline-cust-{run_id}"
    checks.run(
        "customer_create with the decline card (...0002) issues a key",
        lambda: (
            (lambda c: (c["customer_uid"] == decline_customer_uid, short(c)))(
                iamport.customer_create(customer_uid=decline_customer_uid, **DECLINE_CARD)
            )
        ),
    )
    checks.run(
        "pay_again on the decline card's key is status failed",
        lambda: (
            (lambda p: (p["status"] == "failed" and bool(p.get("fail_reason")), short(p)))(
                iamport.pay_again(
                    customer_uid=decline_customer_uid,
                    merchant_uid=f"py-decline-again-{run_id}",
                    amount=amount,
                    name="py decline again",
                )
            )
        ),
    )
    checks.raises(
        "customer_create with a card that fails authentication (...0005) raises ResponseError",
        Iamport.ResponseError,
        lambda: iamport.customer_create(customer_uid=f"py-refused-{run_id}", **REFUSED_CARD),
        expect=lambda err: err.code not in (None, 0) and bool(err.message),
    )

    # Error path: unknown customer_uid.
    checks.raises(
        "pay_again with an unknown customer_uid raises ResponseError",
        Iamport.ResponseError,
        lambda: iamport.pay_again(
            customer_uid=f"py-nobody-{run_id}", merchant_uid=f"py-nobody-{run_id}", amount=amount, name="x"
        ),
        expect=lambda err: err.code not in (None, 0) and bool(err.message),
    )

    # Delete the key; it is gone afterwards.
    checks.run(
        "customer_delete returns the deleted key",
        lambda: ((lambda c: (c["customer_uid"] == customer_uid, short(c)))(iamport.customer_delete(customer_uid))),
    )
    checks.raises(
        "customer_get after delete is HTTP 404",
        Iamport.HttpError,
        lambda: iamport.customer_get(customer_uid),
        expect=lambda err: err.code == 404,
    )
    checks.raises(
        "pay_again with the deleted key raises ResponseError",
        Iamport.ResponseError,
        lambda: iamport.pay_again(
            customer_uid=customer_uid, merchant_uid=f"py-deleted-{run_id}", amount=amount, name="x"
        ),
    )


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPENIMP_BIN", os.path.join(REPO_ROOT, "target", "debug", "openimp"))
    binary = os.path.abspath(binary)
    checks = Checks()

    def on_alarm(signum, frame):
        raise TimeoutError(f"the whole run took longer than {WHOLE_RUN_TIMEOUT_SECS} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WHOLE_RUN_TIMEOUT_SECS)

    with tempfile.TemporaryDirectory(prefix="openimp-py-") as data_dir:
        server = Server(binary, data_dir)
        try:
            try:
                base_url = server.start()
                checks.check(f"server listening on {base_url}", True)
                merchant = create_merchant(binary, data_dir)
                checks.check(f"merchant created ({merchant['imp_code']})", True)
            except Exception as err:  # noqa: BLE001
                checks.check("server start and merchant create", False, f"{type(err).__name__}: {err}")
            else:
                iamport = make_client(base_url, merchant["imp_key"], merchant["imp_secret"])
                exercise(checks, iamport, base_url, merchant)
        except Exception as err:  # noqa: BLE001 - e.g. the whole-run timeout
            checks.check("run finished", False, f"{type(err).__name__}: {err}")
        finally:
            signal.alarm(0)
            server.stop()
            if checks.failed:
                tail = server.log_tail()
                if tail:
                    print("--- server output (last lines) ---")
                    print(tail)
                    print("--- end of server output ---")

    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
