import { access } from "node:fs/promises";
import { createServer } from "node:net";
import { describe, expect, onTestFinished, test } from "vitest";
import { type EtcdServer, EtcdStartError, isEtcdHealthy, startEtcd } from "./etcd.ts";
import { gatewayGet, gatewayPut } from "./etcdGateway.ts";
import { testPrefix } from "./keyPrefix.ts";

async function ownEtcd(): Promise<EtcdServer> {
  const etcd = await startEtcd();
  onTestFinished(() => etcd.destroy());
  return etcd;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("startEtcd", () => {
  test("starts a server that answers /health on loopback", async () => {
    const etcd = await ownEtcd();
    expect(etcd.endpoint).toBe(`http://127.0.0.1:${etcd.clientPort}`);
    expect(etcd.pid).toBeGreaterThan(0);
    expect(etcd.running).toBe(true);
    const response = await fetch(`${etcd.endpoint}/health`);
    expect(await response.json()).toMatchObject({ health: "true" });
  });

  test("restart keeps the data, the endpoint and the ports", async () => {
    const etcd = await ownEtcd();
    const key = `${testPrefix()}kept`;
    await gatewayPut(etcd.endpoint, key, "across restarts");
    const { endpoint, clientPort, peerPort, pid } = etcd;

    await etcd.restart();

    expect(etcd.endpoint).toBe(endpoint);
    expect([etcd.clientPort, etcd.peerPort]).toEqual([clientPort, peerPort]);
    expect(etcd.pid).not.toBe(pid);
    expect(await gatewayGet(etcd.endpoint, key)).toBe("across restarts");
  });

  test("kill() stops etcd like a crash and restart() recovers the data", async () => {
    const etcd = await ownEtcd();
    const key = `${testPrefix()}crash`;
    await gatewayPut(etcd.endpoint, key, "survives SIGKILL");

    await etcd.kill();
    expect(etcd.running).toBe(false);
    expect(await isEtcdHealthy(etcd.endpoint, 500)).toBe(false);

    await etcd.restart();
    expect(etcd.running).toBe(true);
    expect(await gatewayGet(etcd.endpoint, key)).toBe("survives SIGKILL");
  });

  test("stop() is graceful and can be called twice", async () => {
    const etcd = await ownEtcd();
    await Promise.all([etcd.stop(), etcd.stop()]);
    expect(etcd.running).toBe(false);
    expect(await isEtcdHealthy(etcd.endpoint, 500)).toBe(false);
    expect(etcd.logs()).toContain("closed etcd server");
  });

  test("two servers in parallel get different ports and data dirs", async () => {
    const [a, b] = await Promise.all([ownEtcd(), ownEtcd()]);
    expect(new Set([a.clientPort, a.peerPort, b.clientPort, b.peerPort]).size).toBe(4);
    expect(a.dataDir).not.toBe(b.dataDir);
    const key = `${testPrefix()}only-in-a`;
    await gatewayPut(a.endpoint, key, "a");
    expect(await gatewayGet(b.endpoint, key)).toBeUndefined();
  });

  test("destroy() stops etcd, removes the data dir, and forbids restart", async () => {
    const etcd = await startEtcd();
    expect(await exists(etcd.dataDir)).toBe(true);
    await etcd.destroy();
    expect(etcd.running).toBe(false);
    expect(await exists(etcd.dataDir)).toBe(false);
    await expect(etcd.restart()).rejects.toThrow(/destroyed/);
    await etcd.destroy();
  });

  test("a missing etcd binary fails with install instructions", async () => {
    await expect(startEtcd({ binary: "smith-no-such-etcd" })).rejects.toThrow("apt-get install -y etcd-server");
  });

  test("a start failure quotes etcd's own log", async () => {
    const failure = startEtcd({ extraArgs: ["--no-such-flag"] });
    await expect(failure).rejects.toBeInstanceOf(EtcdStartError);
    await expect(failure).rejects.toThrow(/exited before becoming healthy[\s\S]*no-such-flag/);
  });

  test("a taken port is retried with fresh ports, then reported as portInUse", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: "127.0.0.1" }, resolve));
    onTestFinished(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const address = blocker.address();
    if (address === null || typeof address === "string") throw new Error("no port");

    // A later flag wins in etcd's flag parsing, so every attempt binds the blocked port.
    const failure = startEtcd({
      portAttempts: 2,
      extraArgs: [`--listen-client-urls=http://127.0.0.1:${address.port}`],
    });
    await expect(failure).rejects.toMatchObject({ portInUse: true });
    await expect(failure).rejects.toThrow(/address already in use/);
  });
});
