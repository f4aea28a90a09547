/**
 * One of etcd's own Prometheus metrics (from `<client URL>/metrics`), summed over its label sets:
 * e.g. `etcd_debugging_mvcc_watcher_total` (the watchers etcd serves) or
 * `grpc_server_msg_received_total` (requests and stream messages received).
 */
export async function etcdMetric(endpoint: string, name: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  let total = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
      found = true;
    }
  }
  if (!found) throw new Error(`etcd at ${endpoint} exports no metric ${name}`);
  return total;
}
