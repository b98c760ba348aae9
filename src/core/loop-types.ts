// The loop interface the core and the feature modules take (declared beside Future in futures.ts)
// and what a loop hands its exception handler (errors.ts), in one place to import them from: the
// modules take a loop as a parameter without importing the EventLoop class that imports them, as
// asyncio's transports take `loop`.
export type { Loop } from './futures.js';
export type { ExceptionContext } from './errors.js';
