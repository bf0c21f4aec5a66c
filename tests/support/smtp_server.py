"""A real SMTP server (aiosmtpd) for escalate's tests.

Usage: smtp_server.py PORT DIR

Accepts mail on 127.0.0.1:PORT and writes each message to DIR/NNNN.eml, with the envelope
recipients in an X-Envelope-To header. The file DIR/mode says how to answer each recipient:
"accept" (the default), "tempfail" (451) or "permfail" (550), so a test can make the server
refuse and then recover without restarting it. Prints "ready" once it listens.
"""

import itertools
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def mode(self):
        try:
            with open(os.path.join(self.directory, "mode")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return "accept"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.mode()
        if mode == "tempfail":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if mode == "permfail":
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.counter)
        path = os.path.join(self.directory, "%04d.eml" % n)
        header = ("X-Envelope-To: %s\r\n" % ", ".join(envelope.rcpt_tos)).encode()
        with open(path + ".part", "wb") as f:
            f.write(header + envelope.original_content)
        os.rename(path + ".part", path)
        return "250 2.0.0 Ok: queued as %04d" % n


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
