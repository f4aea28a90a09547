import { createServer } from "node:net";

/**
 * Asks the kernel for a free loopback port by binding port 0 and closing again.
 *
 * The port is only free at the moment we close it: another process can take it before the
 * caller binds it. Callers that spawn servers on it must retry on EADDRINUSE.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Distinct free ports: two calls to freePort() may hand back the same port once it is closed. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    ports.add(await freePort(host));
  }
  return [...ports];
}
