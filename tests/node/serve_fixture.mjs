// Helpers shared by the Node end-to-end tests that start `brasa serve`.
import { createServer } from 'node:net';

// Returns a TCP port on 127.0.0.1 that is free at the time of the call.
export function freePort() {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// Polls GET /health until it answers 200, the server exits, or timeoutSeconds pass.
export async function waitHealthy(base, child, timeoutSeconds) {
  for (let i = 0; i < timeoutSeconds * 10; i++) {
    if (child.exitCode !== null) throw new Error(`brasa serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`brasa serve did not become healthy within ${timeoutSeconds} s`);
}
