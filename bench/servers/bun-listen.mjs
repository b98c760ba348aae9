// Echo server for the echo bench: Bun.listen, writing back what each data callback got (Bun's
// own socket API, its fastest TCP path). A write Bun does not take whole is kept and finished
// from the drain callback, so no byte is dropped. Prints its port when listening and serves
// until killed. Usage: bun bun-listen.mjs [HOST]   (npm install --prefix bench/peers)
const pending = new WeakMap();

const server = Bun.listen({
  hostname: process.argv[2] ?? '127.0.0.1',
  port: 0,
  socket: {
    open(socket) {
      socket.setNoDelay?.(true);
    },
    data(socket, data) {
      const queued = pending.get(socket);
      if (queued !== undefined) {
        pending.set(socket, Buffer.concat([queued, data]));
        return;
      }
      const written = socket.write(data);
      if (written < data.length) pending.set(socket, Buffer.from(data.subarray(Math.max(written, 0))));
    },
    drain(socket) {
      const queued = pending.get(socket);
      if (queued === undefined) return;
      const written = socket.write(queued);
      if (written < queued.length) pending.set(socket, queued.subarray(Math.max(written, 0)));
      else pending.delete(socket);
    },
  },
});
process.stdout.write(`${server.port}\n`);
