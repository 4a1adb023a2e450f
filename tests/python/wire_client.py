#!/usr/bin/env python3
"""A hallpass client in plain Python 3 (standard library only), written from
crates/hallpass-proto/WIRE.md and nothing else.

    python3 wire_client.py SOCKET [--page-size N] [--protocol N] [--trace]
    python3 wire_client.py --remote HOST:PORT --token-file FILE [--ca-file CA] [...]

Connects to the daemon's unix socket (or its TCP+TLS listener, authenticating with an API
token instead of hello), calls hello, whoami and list_requests (every page of
the caller's own requests) and prints one JSON line per answer: {"call": NAME, "result": ...}.
It only reads. Exit status: 0 when every call answered Ok; 3 when the daemon refused a call
(the ApiError is printed to stderr as {"call": NAME, "error": {...}}); 2 on any protocol error
(a closed connection, a bad frame, an answer to another request, a server error).
"""

import argparse
import json
import socket
import ssl
import struct
import sys

PROTOCOL_VERSION = 1
MAX_FRAME = 1 << 20
# Every call's deadline, relative to when the daemon reads the request.
DEADLINE_SECS = 30
# tarpc's trace context: any values will do; the daemon only logs them.
TRACE_CONTEXT = {"trace_id": [0] * 16, "span_id": 0, "sampling_decision": "Unsampled"}


class ProtocolError(Exception):
    """The peer broke the wire format (or went away)."""


class Refused(Exception):
    """The daemon answered a call with an ApiError."""

    def __init__(self, call, error):
        super().__init__(f"{call}: {error.get('kind')}")
        self.call = call
        self.error = error


class Connection:
    def __init__(self, sock, trace):
        self.sock = sock
        self.last_id = 0
        self.trace = trace

    @classmethod
    def unix(cls, path, timeout, trace):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return cls(sock, trace)

    @classmethod
    def tls(cls, remote, ca_file, timeout, trace):
        host, _, port = remote.rpartition(":")
        host = host.strip("[]")
        context = ssl.create_default_context(cafile=ca_file)
        raw = socket.create_connection((host, int(port)), timeout=timeout)
        return cls(context.wrap_socket(raw, server_hostname=host), trace)

    def send(self, message):
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        if len(body) > MAX_FRAME:
            raise ProtocolError(f"request of {len(body)} bytes is over the 1 MiB frame limit")
        if self.trace:
            print(">> " + body.decode("utf-8"), file=sys.stderr)
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def exactly(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise ProtocolError("no answer before the timeout") from None
            if not chunk:
                raise ProtocolError("the daemon closed the connection")
            buf += chunk
        return buf

    def receive(self):
        (n,) = struct.unpack(">I", self.exactly(4))
        if n > MAX_FRAME:
            raise ProtocolError(f"answer of {n} bytes is over the 1 MiB frame limit")
        body = self.exactly(n)
        if self.trace:
            print("<< " + body.decode("utf-8"), file=sys.stderr)
        try:
            return json.loads(body)
        except ValueError as e:
            raise ProtocolError(f"answer is not JSON: {e}") from None

    def call(self, method, **args):
        """Calls `method` (snake_case) with named arguments; returns the Ok value."""
        self.last_id += 1
        variant = "".join(part.capitalize() for part in method.split("_"))
        self.send(
            {
                "Request": {
                    "context": {
                        "deadline": {"secs": DEADLINE_SECS, "nanos": 0},
                        "trace_context": TRACE_CONTEXT,
                    },
                    "id": self.last_id,
                    "message": {variant: args},
                }
            }
        )
        response = self.receive()
        if not isinstance(response, dict) or response.get("request_id") != self.last_id:
            raise ProtocolError(f"expected the answer to request {self.last_id}: {response!r}")
        outer = response.get("message")
        if not isinstance(outer, dict) or len(outer) != 1:
            raise ProtocolError(f"bad response message: {outer!r}")
        if "Err" in outer:
            raise ProtocolError(f"server error for {method}: {outer['Err']!r}")
        answer = outer.get("Ok")
        if not isinstance(answer, dict) or list(answer) != [variant]:
            raise ProtocolError(f"expected a {variant} answer: {answer!r}")
        result = answer[variant]
        if not isinstance(result, dict) or len(result) != 1:
            raise ProtocolError(f"bad {variant} result: {result!r}")
        if "Err" in result:
            raise Refused(method, result["Err"])
        if "Ok" not in result:
            raise ProtocolError(f"bad {variant} result: {result!r}")
        return result["Ok"]


def emit(call, result):
    print(json.dumps({"call": call, "result": result}, sort_keys=True), flush=True)


def main():
    parser = argparse.ArgumentParser(description="Read from hallpassd over its wire format.")
    parser.add_argument("socket", nargs="?", help="the daemon's unix socket")
    parser.add_argument("--remote", help="the daemon's TCP+TLS listener, HOST:PORT, instead")
    parser.add_argument("--token-file", help="the API token for --remote")
    parser.add_argument("--ca-file", help="a PEM CA bundle to trust for --remote")
    parser.add_argument("--page-size", type=int, default=100, help="requests per page")
    parser.add_argument("--protocol", type=int, default=PROTOCOL_VERSION, help="announced in hello")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for an answer")
    parser.add_argument("--trace", action="store_true", help="print every frame to stderr")
    args = parser.parse_args()
    if (args.socket is None) == (args.remote is None) or (args.remote and not args.token_file):
        parser.error("give a SOCKET, or --remote HOST:PORT with --token-file")

    announce = {"protocol": args.protocol, "client": "wire_client.py"}
    try:
        if args.remote:
            conn = Connection.tls(args.remote, args.ca_file, args.timeout, args.trace)
            with open(args.token_file, encoding="utf-8") as f:
                token = f.read().strip()
            # Over TCP the token replaces hello; the answer carries the same ServerHello.
            hello = conn.call("authenticate", args={"token": token, "hello": announce})["server"]
        else:
            conn = Connection.unix(args.socket, args.timeout, args.trace)
            hello = conn.call("hello", hello=announce)
        if hello.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(f"the daemon speaks protocol {hello.get('protocol')}")
        emit("hello", hello)
        emit("whoami", conn.call("whoami"))
        after = None
        while True:
            query = {
                "scope": "mine",
                "status": None,
                "flow": None,
                "requester": None,
                "after": after,
                "limit": args.page_size,
            }
            page = conn.call("list_requests", query=query)
            emit("list_requests", page)
            after = page.get("next")
            if after is None:
                break
    except Refused as e:
        print(json.dumps({"call": e.call, "error": e.error}, sort_keys=True), file=sys.stderr)
        return 3
    except (ProtocolError, OSError) as e:
        print(f"protocol error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
