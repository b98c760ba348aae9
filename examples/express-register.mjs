// An unmodified Express app on zloop: `zloop/register` makes every net.Server listen() of this
// thread go through zloop (the same as `node --import zloop/register app.mjs`).
// Needs express (npm install express).
// Run: node examples/express-register.mjs
// Prints:
//   {"hello":"world","onZloop":true}
import 'zloop/register';
import express from 'express';
import { Socket } from 'zloop/net';

const app = express();
app.get('/', (req, res) => res.json({ hello: 'world', onZloop: req.socket instanceof Socket }));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));

const response = await fetch(`http://127.0.0.1:${server.address().port}/`);
console.log(JSON.stringify(await response.json()));
server.close();
server.closeAllConnections();
