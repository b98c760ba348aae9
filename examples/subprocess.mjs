// A child process with pipes (asyncio's create_subprocess_exec and communicate()).
// Run: node examples/subprocess.mjs
// Prints:
//   child said: HELLO FROM THE PARENT
//   exit code: 0
import { createSubprocessExec, PIPE, run } from 'zloop';

await run(async () => {
  const child = await createSubprocessExec(
    process.execPath, '-e', 'process.stdin.on("data", (d) => process.stdout.write(String(d).toUpperCase()))',
    { stdin: PIPE, stdout: PIPE },
  );
  const [stdout] = await child.communicate(Buffer.from('hello from the parent'));
  console.log(`child said: ${stdout}`);
  console.log(`exit code: ${child.returncode}`);
});
