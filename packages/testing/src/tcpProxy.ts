import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxyTarget {
  host: string;
  port: number;
}

/**
 * A TCP proxy on loopback between a client and a server (usually etcd), so a test can cut the
 * network under a live client and heal it again, as etcd3's own tests do.
 */
export interface TcpProxy {
  /** The proxy's listening port; stable across `cut()`/`restore()`. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, to hand to a client instead of the target's endpoint. */
  readonly endpoint: string;
  /** Whether connections are currently forwarded (false between `cut()` and `restore()`). */
  readonly connected: boolean;
  /**
   * Resets every open connection and every new one until `restore()`. The port stays bound,
   * so no other process can take it in the meantime and `restore()` cannot fail.
   */
  cut(): void;
  /** Forwards new connections again, on the same port. */
  restore(): Promise<void>;
  /** Resets all connections and stops listening. */
  close(): Promise<void>;
}

function reset(socket: Socket): void {
  // resetAndDestroy sends RST, like a dropped link; destroy() would send a polite FIN.
  if (socket.destroyed) return;
  if (socket.connecting || socket.readyState === "closed") socket.destroy();
  else socket.resetAndDestroy();
}

export async function startTcpProxy(target: TcpProxyTarget): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let forwarding = true;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const server: Server = createServer((client) => {
    // An 'error' with no listener would crash the test process; every error just ends the pair.
    client.on("error", () => undefined);
    if (!forwarding) {
      reset(client);
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    upstream.on("error", () => undefined);
    track(client);
    track(upstream);
    // A clean end travels through pipe(); a failed side (refused dial, reset) takes the other down.
    client.once("close", (hadError) => {
      if (hadError) upstream.destroy();
    });
    upstream.once("close", (hadError) => {
      if (hadError) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on("error", () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string")
    throw new Error(`tcp proxy: unexpected address ${String(address)}`);
  const { port } = address;

  const resetAll = (): void => {
    for (const socket of sockets) reset(socket);
    sockets.clear();
  };

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get connected() {
      return forwarding;
    },
    cut: () => {
      forwarding = false;
      resetAll();
    },
    restore: async () => {
      forwarding = true;
    },
    close: async () => {
      forwarding = false;
      resetAll();
      if (!server.listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
