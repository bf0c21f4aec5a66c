"""A "black hole" mail server for escalate's tests: accepts TCP connections on 127.0.0.1 and
never says a word (no greeting, no replies), holding each connection open until it exits.

Usage: black_hole.py. Prints the port it listens on, then serves until killed.
"""

import socket
import sys


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    print(listener.getsockname()[1], flush=True)
    held = []
    while True:
        connection, _ = listener.accept()
        held.append(connection)


if __name__ == "__main__":
    sys.exit(main())
