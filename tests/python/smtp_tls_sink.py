#!/usr/bin/env python3
"""A small SMTP server for tests, standard library only: implicit TLS (`tls`, like port 465)
or plain with STARTTLS (`starttls`, like 587), AUTH PLAIN/LOGIN checked against one user, and
every accepted message appended to OUT with the user it was authenticated as.

    python3 smtp_tls_sink.py PORT MODE CERT KEY OUT USER PASSWORD
"""

import base64
import socket
import ssl
import sys
import threading


def serve(conn, mode, context, out, user, password):
    f = None

    def reply(line):
        f.write((line + "\r\n").encode())
        f.flush()

    def read():
        line = f.readline()
        if not line:
            raise EOFError
        return line.decode("utf-8", "replace").rstrip("\r\n")

    if mode == "tls":
        conn = context.wrap_socket(conn, server_side=True)
    secure = mode == "tls"
    f = conn.makefile("rwb")
    reply("220 sink ready")
    authed = None
    try:
        while True:
            cmd = read()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                lines = ["sink"]
                if secure:
                    lines.append("AUTH PLAIN LOGIN")
                else:
                    lines.append("STARTTLS")
                for i, l in enumerate(lines):
                    reply(("250 " if i == len(lines) - 1 else "250-") + l)
            elif verb == "STARTTLS" and not secure:
                reply("220 go ahead")
                f.close()
                conn = context.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb")
                secure = True
            elif verb == "AUTH" and secure:
                parts = cmd.split(" ")
                mech = parts[1].upper() if len(parts) > 1 else ""
                if mech == "PLAIN":
                    blob = parts[2] if len(parts) > 2 else (reply("334 ") or read())
                    _, u, p = base64.b64decode(blob).decode().split("\0")
                elif mech == "LOGIN":
                    reply("334 VXNlcm5hbWU6")
                    u = base64.b64decode(read()).decode()
                    reply("334 UGFzc3dvcmQ6")
                    p = base64.b64decode(read()).decode()
                else:
                    reply("504 unknown mechanism")
                    continue
                if (u, p) == (user, password):
                    authed = u
                    reply("235 ok")
                else:
                    reply("535 bad credentials")
            elif verb in ("MAIL", "RCPT"):
                if not secure or authed is None:
                    reply("530 authenticate first")
                else:
                    reply("250 ok")
            elif verb == "DATA":
                reply("354 go on")
                body = []
                while True:
                    line = read()
                    if line == ".":
                        break
                    body.append(line)
                with open(out, "a", encoding="utf-8") as o:
                    o.write(f"--- message, authenticated as {authed}\n")
                    o.write("\n".join(body) + "\n")
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                return
            else:
                reply("250 ok")
    except (EOFError, OSError, ValueError):
        return
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    port, mode, cert, key, out, user, password = sys.argv[1:8]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", int(port)))
    while True:
        conn, _ = listener.accept()
        threading.Thread(
            target=serve, args=(conn, mode, context, out, user, password), daemon=True
        ).start()


if __name__ == "__main__":
    main()
