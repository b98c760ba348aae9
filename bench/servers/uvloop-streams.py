# Echo server for the echo bench: uvloop with asyncio streams (start_server, read / write /
# drain), the shape of zloop-streams.mjs. Prints its port when listening and serves until killed.
# Usage: python3 uvloop-streams.py [HOST]   (Debian: apt-get install python3-uvloop)
import asyncio
import sys

import uvloop


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the load generator closes its connections at the end of a run
    writer.close()


async def main():
    server = await asyncio.start_server(echo, sys.argv[1] if len(sys.argv) > 1 else '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


uvloop.install()
asyncio.run(main())
