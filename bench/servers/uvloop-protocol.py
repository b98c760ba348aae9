# Echo server for the echo bench: uvloop with an asyncio Protocol whose data_received writes the
# bytes back, the way an asyncio user writes it. Prints its port when listening and serves until
# killed. Usage: python3 uvloop-protocol.py [HOST]   (Debian: apt-get install python3-uvloop)
import asyncio
import socket
import sys

import uvloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        transport.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, sys.argv[1] if len(sys.argv) > 1 else '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


uvloop.install()
asyncio.run(main())
