"""A tiny static web server configured by an INI file: ``python -m webapp CONFIG``."""

import configparser
import functools
import http.server
import sys


def main() -> None:
    config = configparser.ConfigParser()
    config.read(sys.argv[1])
    server = config["server"]
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=server["root"]
    )
    address = (server.get("bind", "127.0.0.1"), server.getint("port"))
    http.server.ThreadingHTTPServer(address, handler).serve_forever()


if __name__ == "__main__":
    main()
