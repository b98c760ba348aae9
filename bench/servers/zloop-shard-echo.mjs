// Handler module for the sharded bench (zloop-sharded.mjs): in every shard, a Protocol whose
// dataReceived writes the bytes back, the same echo as zloop-protocol.mjs.
import { Protocol } from '../../dist/src/index.js';

class EchoProtocol extends Protocol {
  transport = null;

  connectionMade(transport) {
    this.transport = transport;
  }

  dataReceived(data) {
    this.transport.write(data);
  }
}

export default {
  protocolFactory() {
    return new EchoProtocol();
  },
};
