// node:cluster running an app module in WORKERS worker processes (the primary shares PORT with
// them, round-robin as Node does on Linux). Prints the port once every worker listens.
// Usage: node http-cluster.mjs APP WORKERS   (PORT from the environment)
import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';

const [app, workers] = process.argv.slice(2);
if (cluster.isPrimary) {
  let listening = 0;
  for (let index = 0; index < Number(workers); index++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === Number(workers)) console.log(process.env.PORT);
  });
} else {
  await import(pathToFileURL(app).href);
}
