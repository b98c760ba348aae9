// UDP on zloop: an echo endpoint and a client endpoint connected to it (asyncio's
// create_datagram_endpoint).
// Run: node examples/udp-echo.mjs
// Prints:
//   got back: ping 1
//   got back: ping 2
import { DatagramProtocol, getRunningLoop, Queue, run } from 'zloop';

class EchoServer extends DatagramProtocol {
  connectionMade(transport) {
    this.transport = transport;
  }
  datagramReceived(data, addr) {
    this.transport.sendto(data, addr);
  }
}

class Client extends DatagramProtocol {
  constructor(replies) {
    super();
    this.replies = replies;
  }
  datagramReceived(data) {
    this.replies.putNowait(String(data));
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const [server] = await loop.createDatagramEndpoint(() => new EchoServer(), { localAddr: ['127.0.0.1', 0] });
  const replies = new Queue();
  const [client] = await loop.createDatagramEndpoint(() => new Client(replies), { remoteAddr: server.getExtraInfo('sockname') });
  for (const n of [1, 2]) {
    client.sendto(Buffer.from(`ping ${n}`));
    console.log(`got back: ${await replies.get()}`);
  }
  client.close();
  server.close();
});
