// Echo server for the echo bench: Deno.listen with one read/write loop per connection (Deno's
// own TCP API). Prints its port when listening and serves until killed.
// Usage: deno run --allow-net deno-echo.mjs [HOST]   (npm install --prefix bench/peers)
const listener = Deno.listen({ hostname: Deno.args[0] ?? '127.0.0.1', port: 0 });
await Deno.stdout.write(new TextEncoder().encode(`${listener.addr.port}\n`));

async function echo(conn) {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const count = await conn.read(buffer);
      if (count === null) break;
      let offset = 0;
      while (offset < count) offset += await conn.write(buffer.subarray(offset, count));
    }
  } catch {
    // the peer went away
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

for await (const conn of listener) echo(conn);
