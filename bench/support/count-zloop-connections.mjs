// Loaded after zloop/register by bench/express-suite.mjs: counts the connections that net.Servers
// handed to their 'connection' listeners, and how many of them were zloop/net Sockets, and
// prints both when the process exits, so a green run also shows that zloop served it.
import * as net from 'node:net';
import { Socket } from 'zloop/net';

let connections = 0;
let zloopConnections = 0;
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function countConnections(event, ...args) {
  if (event === 'connection') {
    connections++;
    if (args[0] instanceof Socket) zloopConnections++;
  }
  return emit.call(this, event, ...args);
};
process.on('exit', () => {
  process.stderr.write(`zloop: ${zloopConnections} of ${connections} server connections were zloop/net Sockets\n`);
});
