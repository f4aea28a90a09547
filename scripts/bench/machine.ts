import { availableParallelism, cpus, release, totalmem } from "node:os";

/** Where a run happened: figures from different machines are not comparable. */
export interface MachineInfo {
  date: string;
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  etcd: string;
}

export async function machineInfo(endpoint: string): Promise<MachineInfo> {
  return {
    date: new Date().toISOString(),
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    etcd: await etcdVersion(endpoint),
  };
}

async function etcdVersion(endpoint: string): Promise<string> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(2000) });
    const body: unknown = await res.json();
    return typeof body === "object" && body !== null && "etcdserver" in body && typeof body.etcdserver === "string"
      ? body.etcdserver
      : "unknown";
  } catch {
    return "unknown";
  }
}

export function formatMachine(m: MachineInfo): string {
  return `${m.date} · ${m.cores} cores, ${m.cpuModel}, ${m.memoryGiB} GiB · ${m.os} · Node ${m.node} · etcd ${m.etcd}`;
}
