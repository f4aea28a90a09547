import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The files of `smith up`'s etcd certificates, in `<state dir>/secrets/etcd/`. */
export interface EtcdCertFiles {
  /** The private CA that signs both certificates below (its key stays next to it, 0600). */
  caFile: string;
  /** etcd's server certificate (127.0.0.1 and localhost) and key. */
  serverCertFile: string;
  serverKeyFile: string;
  /** The one client certificate etcd accepts (`--client-cert-auth`), for the API and the scheduler. */
  clientCertFile: string;
  clientKeyFile: string;
}

/** PEM text of the CA and the client pair, as the store takes them. */
export interface EtcdClientTls {
  ca: string;
  cert: string;
  key: string;
}

const DAYS = "3650";

/**
 * The certificates of `smith up`'s private etcd: made once with openssl (a P-256 CA, a server
 * certificate for 127.0.0.1/localhost and a client certificate, both signed by it) and kept like
 * the signing key, keys 0600 in a 0700 directory; modes are set again on every load. With them
 * etcd serves TLS only and refuses any client without the client certificate: an agent that finds
 * etcd's port cannot read or write a loop.
 */
export function loadOrCreateEtcdCerts(secretsDir: string, openssl = "openssl"): EtcdCertFiles {
  const dir = join(secretsDir, "etcd");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files: EtcdCertFiles = {
    caFile: join(dir, "ca.crt"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
  };
  const caKey = join(dir, "ca.key");
  const all = [...Object.values(files), caKey];
  if (!all.every((f) => existsSync(f))) {
    // A half-made set (an interrupted first start) is made again as a whole: certificates of two CAs never mix.
    for (const f of all) rmSync(f, { force: true });
    const run = (args: string[]) => execFileSync(openssl, args, { stdio: ["ignore", "ignore", "pipe"] });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    run([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      caKey,
      "-out",
      files.caFile,
      "-days",
      DAYS,
      "-subj",
      "/CN=smith-etcd-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    const sign = (name: string, keyFile: string, certFile: string, extensions: string) => {
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, extensions);
      try {
        run(["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${name}`]);
        run([
          "x509",
          "-req",
          "-in",
          csr,
          "-CA",
          files.caFile,
          "-CAkey",
          caKey,
          "-set_serial",
          `0x${Date.now().toString(16)}${name === "smith-etcd" ? "01" : "02"}`,
          "-days",
          DAYS,
          "-extfile",
          ext,
          "-out",
          certFile,
        ]);
      } finally {
        rmSync(csr, { force: true });
        rmSync(ext, { force: true });
      }
    };
    sign(
      "smith-etcd",
      files.serverKeyFile,
      files.serverCertFile,
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n",
    );
    sign(
      "smith",
      files.clientKeyFile,
      files.clientCertFile,
      "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
    );
  }
  for (const f of all) chmodSync(f, 0o600);
  return files;
}

/** The CA and the client pair as PEM text, for `SmithStore({ tls })`. */
export function etcdClientTls(files: EtcdCertFiles): EtcdClientTls {
  return {
    ca: readFileSync(files.caFile, "utf8"),
    cert: readFileSync(files.clientCertFile, "utf8"),
    key: readFileSync(files.clientKeyFile, "utf8"),
  };
}
