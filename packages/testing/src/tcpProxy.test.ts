import { connect, createServer } from "node:net";
import { expect } from "vitest";
import { isEtcdHealthy } from "./etcd.ts";
import { gatewayGet, gatewayPut } from "./etcdGateway.ts";
import { etcdTest as test } from "./fixtures.ts";
import { freePort } from "./ports.ts";
import { startTcpProxy } from "./tcpProxy.ts";

test("forwards HTTP to etcd", async ({ etcd, prefix, onTestFinished }) => {
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
  onTestFinished(() => proxy.close());
  expect(proxy.endpoint).toBe(`http://127.0.0.1:${proxy.port}`);
  expect(proxy.port).not.toBe(etcd.clientPort);

  expect(await isEtcdHealthy(proxy.endpoint)).toBe(true);
  await gatewayPut(proxy.endpoint, `${prefix}via-proxy`, "forwarded");
  expect(await gatewayGet(etcd.endpoint, `${prefix}via-proxy`)).toBe("forwarded");
});

test("cut() makes requests fail and restore() heals them on the same port", async ({ etcd, onTestFinished }) => {
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
  onTestFinished(() => proxy.close());
  const port = proxy.port;
  expect(await isEtcdHealthy(proxy.endpoint)).toBe(true);

  proxy.cut();
  expect(proxy.connected).toBe(false);
  await expect(fetch(`${proxy.endpoint}/health`)).rejects.toThrow();
  expect(await isEtcdHealthy(proxy.endpoint, 500)).toBe(false);
  // etcd itself is fine: only the path through the proxy is down.
  expect(await isEtcdHealthy(etcd.endpoint)).toBe(true);

  await proxy.restore();
  expect(proxy.port).toBe(port);
  expect(await isEtcdHealthy(proxy.endpoint)).toBe(true);
});

test("cut() resets connections that are already open", async ({ etcd, onTestFinished }) => {
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
  onTestFinished(() => proxy.close());
  const socket = connect({ host: "127.0.0.1", port: proxy.port });
  const closed = new Promise<Error | undefined>((resolve) => {
    let error: Error | undefined;
    socket.on("error", (err) => (error = err));
    socket.on("close", () => resolve(error));
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  // Let the proxy accept and dial upstream before cutting.
  await new Promise((resolve) => setTimeout(resolve, 50));

  proxy.cut();
  expect(await closed).toMatchObject({ code: "ECONNRESET" });
});

test("a dead target closes the client connection without crashing the proxy", async ({ onTestFinished }) => {
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: await freePort() });
  onTestFinished(() => proxy.close());
  await expect(fetch(`${proxy.endpoint}/health`)).rejects.toThrow();
  expect(proxy.connected).toBe(true);
});

test("close() stops listening", async ({ etcd }) => {
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: etcd.clientPort });
  await proxy.close();
  await proxy.close();
  // Nothing listens any more: the port can be bound again.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: proxy.port, host: "127.0.0.1" }, resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
