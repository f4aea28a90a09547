import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/**
 * Asks the kernel for a free loopback port by binding port 0 and closing again.
 *
 * The port is only free at the moment we close it: another process can take it before the
 * caller binds it. Callers that spawn servers on it must retry on EADDRINUSE.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = await hold(0, host);
  const address = server?.address();
  if (!server || address === null || typeof address !== "object") {
    server?.close();
    throw new Error(`freePort: could not bind port 0 on ${host}`);
  }
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return address.port;
}

/** Distinct free ports: two calls to freePort() may hand back the same port once it is closed. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    ports.add(await freePort(host));
  }
  return [...ports];
}

/**
 * A port `p` with `p` and `p + 1` both free, for a server that takes two neighbours (`smith up
 * --etcd-port p` puts etcd's peer on `p + 1`). Searched below the kernel's ephemeral range, where
 * the local ports of outgoing connections are taken: a port that bind(0) hands out is free, but
 * its neighbour may be any client's socket at that moment (the likely cause of one CI failure,
 * where `smith up`'s etcd exited with code 1 at start).
 * Both ports are held while the pair is checked.
 */
export async function freePortPair(host = "127.0.0.1"): Promise<number> {
  const low = ephemeralLow();
  for (let tries = 0; tries < 200; tries++) {
    const p = 10_000 + Math.floor(Math.random() * (low - 10_002));
    const first = await hold(p, host);
    if (!first) continue;
    const second = await hold(p + 1, host);
    await new Promise<void>((r) => first.close(() => r()));
    if (!second) continue;
    await new Promise<void>((r) => second.close(() => r()));
    return p;
  }
  throw new Error(`freePortPair: no two neighbouring free ports found between 10000 and ${low}`);
}

/** The lowest ephemeral port (Linux: net.ipv4.ip_local_port_range; else IANA's 49152). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 49_152;
  } catch {
    return 49_152;
  }
}

/** Binds `port` (exclusively), or undefined when it is taken. */
function hold(port: number, host: string): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}
