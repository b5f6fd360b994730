#!/usr/bin/env python3
"""A cash register's side of scanpay, in Python with the standard library only.

Arms a sale through the register API, follows it by long-poll until it ends, and prints
each state it passes through and the outcome. Exit status: 0 when paid, 1 when the sale
ended otherwise (or is left to the terminal's background checks), 2 when the API could not
be used.

    python3 examples/register_client.py 12.50
    python3 examples/register_client.py --url http://127.0.0.1:8470 --token SECRET 3.20
    python3 examples/register_client.py --unix /run/scanpay/register.sock 12.50

The API is described at GET /v1/openapi.json; README.md has the same reference.
"""

import argparse
import decimal
import http.client
import json
import socket
import sys
import time
import urllib.parse

# Final states: the sale will not change again. "unresolved" is not final, but the cashier
# stops waiting there: the terminal checks it in the background and reports a late payment.
FINAL = {"paid", "failed", "expired", "disarmed"}
STOP_FOLLOWING = FINAL | {"unresolved"}
# One long-poll; the server allows up to 300 s, shorter polls pass proxies and timeouts.
POLL_SECONDS = 25


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, the register API's default on a till."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class RegisterApi:
    def __init__(self, url=None, unix=None, token=None):
        self.url = urllib.parse.urlsplit(url) if url else None
        self.unix = unix
        self.token = token

    def request(self, method, path, body=None, wait=0):
        """Sends one request; returns (status, decoded JSON answer)."""
        timeout = wait + 10
        if self.unix:
            conn = UnixHTTPConnection(self.unix, timeout)
        else:
            conn = http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=timeout)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()


class ApiError(Exception):
    pass


def expect(status, answer, wanted, what):
    if status != wanted:
        message = answer.get("error") if isinstance(answer, dict) else answer
        raise ApiError(f"{what} answered {status}: {message}")
    return answer


def yuan_to_fen(text):
    fen = decimal.Decimal(text) * 100
    if fen != fen.to_integral_value() or fen <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in yuan such as 12.50")
    return int(fen)


def describe(sale):
    line = f"{sale['sale_id']} ¥{sale['amount_fen'] / 100:.2f} {sale['state']}"
    if sale.get("trade_no"):
        line += f" (trade {sale['trade_no']})"
    if sale.get("err_code") or sale.get("err_code_des"):
        line += f": {sale.get('err_code') or ''} {sale.get('err_code_des') or ''}".rstrip()
    return line


def charge(api, amount_fen, subject=None, wait=120):
    """Arms a sale and follows it; returns its last view."""
    body = {"amount_fen": amount_fen}
    if subject:
        body["subject"] = subject
    sale = expect(*api.request("POST", "/v1/sales", body), 201, "POST /v1/sales")
    print("armed:", describe(sale), flush=True)
    deadline = time.monotonic() + wait
    while sale["state"] not in STOP_FOLLOWING:
        left = deadline - time.monotonic()
        if left <= 0:
            if sale["state"] == "armed":
                # Nobody scanned: free the terminal. Once scanned, a sale is never abandoned.
                path = "/v1/sales/" + urllib.parse.quote(sale["sale_id"], safe="")
                status, answer = api.request("DELETE", path)
                if status == 200:
                    sale = answer
            break
        poll = max(1, min(POLL_SECONDS, int(left)))
        query = urllib.parse.urlencode({"wait": poll, "state": sale["state"]})
        path = "/v1/sales/" + urllib.parse.quote(sale["sale_id"], safe="") + "?" + query
        seen = sale["state"]
        sale = expect(*api.request("GET", path, wait=poll), 200, "GET /v1/sales/{id}")
        if sale["state"] != seen:
            print("now:", describe(sale), flush=True)
    return sale


def main():
    parser = argparse.ArgumentParser(description="Charge an amount through scanpay's register API.")
    parser.add_argument("amount", type=yuan_to_fen, help="the amount in yuan, e.g. 12.50")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", default="http://127.0.0.1:8470", help="the register API over TCP")
    where.add_argument("--unix", help="the register API's unix socket")
    parser.add_argument("--token", help="the [register] token, if one is set")
    parser.add_argument("--subject", help="what is sold")
    parser.add_argument("--wait", type=int, default=120, help="seconds to follow the sale")
    args = parser.parse_args()
    api = RegisterApi(url=None if args.unix else args.url, unix=args.unix, token=args.token)
    try:
        sale = charge(api, args.amount, args.subject, args.wait)
    except (OSError, ApiError, ValueError) as error:
        print(f"register_client: {error}", file=sys.stderr)
        return 2
    print("outcome:", describe(sale))
    if sale["state"] == "paid":
        return 0
    if sale["state"] not in FINAL:
        print("not finished: do not charge again; the terminal keeps checking it", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
