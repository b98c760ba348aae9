// zloop/net: node:net's Socket and Server on zloop, for code written against node:net.
// Run: node examples/node-net.mjs
// Prints:
//   server got: hi over zloop/net
//   client got: bye
import { once } from 'node:events';
import { connect, createServer } from 'zloop/net';

const server = createServer((socket) => {
  socket.setEncoding('utf8');
  socket.on('data', (text) => {
    console.log(`server got: ${text}`);
    socket.end('bye');
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');

const client = connect(server.address().port, '127.0.0.1');
client.setEncoding('utf8');
client.write('hi over zloop/net');
const [reply] = await once(client, 'data');
console.log(`client got: ${reply}`);
client.end();
await once(client, 'close');
server.close();
