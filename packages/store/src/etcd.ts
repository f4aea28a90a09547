import { SmithError } from "@smith/core";
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry, wrap } from "cockatiel";
import { Etcd3, isRecoverableError } from "etcd3";

export interface EtcdClientOptions {
  /** etcd client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Connect timeout in ms (default 3000). */
  dialTimeoutMs?: number;
  /** Deadline of one call in ms (default 10000). */
  callTimeoutMs?: number;
  /**
   * TLS to etcd (PEM text): the CA that signed etcd's server certificate, and this client's
   * certificate and key when etcd asks for one (`--client-cert-auth`). Without it, `https://`
   * endpoints are checked against the system's roots and `http://` ones are plain text.
   */
  tls?: EtcdTls;
}

export interface EtcdTls {
  ca: string;
  cert?: string;
  key?: string;
  /**
   * The name etcd's certificate is checked against instead of the endpoints' host: for IP
   * endpoints whose certificate names them (`smith up`'s `localhost`). An IP is no TLS server
   * name (RFC 6066; Node warns once it is sent as one).
   */
  serverName?: string;
}

/** Endpoints spoken to in plain text: anyone who can reach them can read and rewrite every loop. */
export function plainTextEndpoints(endpoints: readonly string[]): string[] {
  return endpoints.filter((e) => !e.startsWith("https://"));
}

/**
 * An etcd3 client with fault handling tuned for a control plane: a short circuit breaker per host
 * (so a restarted etcd is used again within a second) and a few retries of recoverable errors.
 */
export function createEtcdClient(options: EtcdClientOptions): Etcd3 {
  if (options.endpoints.length === 0) {
    throw new SmithError("invalid_argument", "at least one etcd endpoint is required", { field: "endpoints" });
  }
  const tls = options.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new SmithError("invalid_argument", "an etcd client certificate needs its key, and a key its certificate", {
      field: tls.cert === undefined ? "tls.cert" : "tls.key",
    });
  }
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  return new Etcd3({
    hosts: options.endpoints,
    dialTimeout: options.dialTimeoutMs ?? 3000,
    ...(tls
      ? {
          credentials: {
            rootCertificate: Buffer.from(tls.ca),
            ...(tls.cert !== undefined && tls.key !== undefined
              ? { certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) }
              : {}),
          },
        }
      : {}),
    ...(tls?.serverName !== undefined
      ? {
          grpcOptions: {
            "grpc.ssl_target_name_override": tls.serverName,
            "grpc.default_authority": tls.serverName,
          },
        }
      : {}),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      global: wrap(
        retry(handleWhen(isRecoverableError), {
          maxAttempts: 4,
          backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }),
        }),
      ),
    },
  });
}

/** Turns etcd/gRPC failures into `unavailable`, leaving SmithErrors alone. */
export function toSmithError(err: unknown): SmithError {
  if (err instanceof SmithError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/request is too large|message larger than max|exceeds maximum/i.test(message)) {
    return new SmithError("too_large", `etcd refused the request as too large: ${message}`, {}, { cause: err });
  }
  return new SmithError("unavailable", `etcd: ${message}`, {}, { cause: err });
}

/** Runs an etcd operation, mapping its failures to SmithError. */
export async function etcdCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toSmithError(err);
  }
}
