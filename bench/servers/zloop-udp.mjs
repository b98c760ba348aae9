// UDP echo server for the udp bench: a zloop DatagramProtocol that sends each datagram back to
// its sender. Prints its port when bound and serves until killed. Usage: node zloop-udp.mjs [HOST]
import { run, getRunningLoop, DatagramProtocol } from '../../dist/src/index.js';

class EchoProtocol extends DatagramProtocol {
  transport = null;

  connectionMade(transport) {
    this.transport = transport;
  }

  datagramReceived(data, addr) {
    this.transport.sendto(data, addr);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const [transport] = await loop.createDatagramEndpoint(() => new EchoProtocol(), { localAddr: [process.argv[2] ?? '127.0.0.1', 0] });
  process.stdout.write(`${transport.getExtraInfo('sockname')[1]}\n`);
  await new Promise(() => {});
});
