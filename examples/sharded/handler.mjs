// A handler module for createShardedServer and `zloop serve`: every shard (a worker thread with
// its own loop and SO_REUSEPORT listener) imports it and calls the default export per connection.
export default async function handle(reader, writer, shard) {
  for await (const chunk of reader) {
    writer.write(`shard ${shard.id}: ${chunk}`);
    await writer.drain(); // backpressure
  }
  writer.close();
}
