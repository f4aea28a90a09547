import type { Etcd3, IOperation } from "etcd3";
import type { ITxnResponse, IKeyValue } from "etcd3";
import { etcdCall } from "./etcd.ts";

export interface Compare {
  key: string;
  target: "Mod" | "Create" | "Value" | "Version";
  op: "==" | ">" | "<" | "!=";
  value: string | number;
}

export const exists = (key: string): Compare => ({ key, target: "Create", op: ">", value: 0 });
export const absent = (key: string): Compare => ({ key, target: "Create", op: "==", value: 0 });
export const modIs = (key: string, revision: string): Compare => ({ key, target: "Mod", op: "==", value: revision });

/** An etcd transaction: every compare holds → `success` ops, else `failure` ops. */
export async function txn(
  client: Etcd3,
  compares: Compare[],
  success: IOperation[],
  failure: IOperation[] = [],
): Promise<ITxnResponse> {
  const [first, ...rest] = compares;
  if (!first) throw new Error("txn needs at least one compare");
  let builder = client.if(first.key, first.target, first.op, first.value);
  for (const c of rest) builder = builder.and(c.key, c.target, c.op, c.value);
  return etcdCall(() =>
    builder
      .then(...success)
      .else(...failure)
      .commit(),
  );
}

/** The key-values of the i-th range op of a transaction response. */
export function rangeKvs(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

export type { IKeyValue, ITxnResponse };
