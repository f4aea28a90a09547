// smith up's private etcd with TLS and client certificates: a real etcd, real certificates from openssl.
import { SmithStore } from "@smith/store";
import { freePorts, tmpDirTest as test } from "@smith/testing";
import { readFileSync, statSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { etcdClientTls, loadOrCreateEtcdCerts } from "./etcdCerts.ts";
import { EtcdProcess } from "./etcdProcess.ts";

/** The status of a GET over TLS with these credentials, or `error: ...` when the handshake or the request fails. */
function httpsStatus(url: string, creds: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { ...creds, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(`error: ${e.message}`));
    req.end();
  });
}

describe("smith up's etcd", () => {
  test("serves TLS only and only to the client certificate: plain HTTP and a client without it are refused", async ({
    tmpDir,
  }) => {
    const secrets = join(tmpDir, "secrets");
    const certs = loadOrCreateEtcdCerts(secrets);
    for (const f of [certs.serverKeyFile, certs.clientKeyFile, join(secrets, "etcd", "ca.key")])
      expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(join(secrets, "etcd")).mode & 0o777).toBe(0o700);
    // Made once: a second load keeps them.
    expect(readFileSync(loadOrCreateEtcdCerts(secrets).caFile, "utf8")).toBe(readFileSync(certs.caFile, "utf8"));

    const [clientPort, peerPort] = await freePorts(2);
    if (clientPort === undefined || peerPort === undefined) throw new Error("no ports");
    const etcd = new EtcdProcess({ dir: join(tmpDir, "etcd"), clientPort, peerPort, env: process.env, tls: certs });
    await etcd.start();
    const tls = etcdClientTls(certs);
    const fast = { dialTimeoutMs: 500, callTimeoutMs: 1_000 };
    const stores: SmithStore[] = [];
    const store = (options: ConstructorParameters<typeof SmithStore>[0]) => {
      const s = new SmithStore({ ...fast, ...options });
      stores.push(s);
      return s;
    };
    try {
      expect(etcd.endpoint).toBe(`https://127.0.0.1:${clientPort}`);
      const ok = store({ endpoints: [etcd.endpoint], tls });
      expect(await ok.ping()).toBe(true);
      const { loop } = await ok.loops.create({
        spec: { repo: { url: "https://example.com/a.git" }, prd: { kind: "path" } },
      });

      // What an agent on the same host could try: plain HTTP, TLS without a client certificate,
      // and the HTTP gateway with curl-like fetch.
      expect(await store({ endpoints: [`http://127.0.0.1:${clientPort}`] }).ping()).toBe(false);
      expect(await store({ endpoints: [etcd.endpoint], tls: { ca: tls.ca } }).ping()).toBe(false);
      await expect(
        fetch(`http://127.0.0.1:${clientPort}/v3/kv/range`, { method: "POST", body: "{}" }),
      ).rejects.toThrow();
      // A certificate from another CA (another state dir's) is refused too.
      const other = etcdClientTls(loadOrCreateEtcdCerts(join(tmpDir, "other")));
      expect(await store({ endpoints: [etcd.endpoint], tls: { ...other, ca: tls.ca } }).ping()).toBe(false);

      expect((await ok.loops.getOrThrow(loop.id)).loop.id).toBe(loop.id);

      // The peer port too: plain HTTP and TLS without a certificate of the CA get nothing; the
      // member's own certificate (what a second member would present) gets /members.
      const peer = `127.0.0.1:${peerPort}`;
      await expect(fetch(`http://${peer}/members`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
      expect(await httpsStatus(`https://${peer}/members`, { ca: tls.ca })).toMatch(/^error/);
      expect(await httpsStatus(`https://${peer}/members`, { ...other, ca: tls.ca })).toMatch(/^error/);
      expect(
        await httpsStatus(`https://${peer}/members`, {
          ca: tls.ca,
          cert: readFileSync(certs.serverCertFile, "utf8"),
          key: readFileSync(certs.serverKeyFile, "utf8"),
        }),
      ).toBe("200");
    } finally {
      for (const s of stores) s.close();
      await etcd.stop();
    }
  });

  test("a client certificate without its key is refused at once, naming the field", () => {
    expect(() => new SmithStore({ endpoints: ["https://127.0.0.1:1"], tls: { ca: "x", cert: "y" } })).toThrow(
      expect.objectContaining({ code: "invalid_argument", details: expect.objectContaining({ field: "tls.key" }) }),
    );
  });
});
