// zloop/register: `node --import zloop/register app.mjs`. In the thread that imports it, every
// net.Server's TCP or Unix listen() binds through zloop, so http.Server, https.Server and the
// servers of Express, Fastify, Koa and ws run on zloop sockets unchanged; their connections are
// zloop/net Sockets. Client sockets (net.connect, http.request, fetch) stay Node's: they are
// created inside Node's own modules, with no listen() to step into. A listen() on a handle or an
// fd, and a listen() in a node:cluster worker (the primary owns those sockets), stay Node's too.
import cluster from 'node:cluster';
import * as net from 'node:net';
import { listenOnZloop, parseListenArgs } from './listen.js';

const nodeListen = net.Server.prototype.listen;
const INSTALLED = Symbol.for('zloop.register');

type Patched = typeof net.Server.prototype & { [INSTALLED]?: true };

if (!(net.Server.prototype as Patched)[INSTALLED]) {
  (net.Server.prototype as Patched)[INSTALLED] = true;
  net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
    const parsed = cluster.isWorker ? null : parseListenArgs(args);
    if (parsed === null) return nodeListen.apply(this, args as never);
    listenOnZloop(this, parsed.options, parsed.callback);
    return this;
  } as typeof nodeListen;
}
