// UDP echo server for the udp bench on node:dgram: each message goes back to its sender.
// Prints its port when bound and serves until killed. Usage: node node-dgram.mjs [HOST]
import dgram from 'node:dgram';

const socket = dgram.createSocket('udp4');
socket.on('message', (message, rinfo) => socket.send(message, rinfo.port, rinfo.address));
socket.bind(0, process.argv[2] ?? '127.0.0.1', () => process.stdout.write(`${socket.address().port}\n`));
