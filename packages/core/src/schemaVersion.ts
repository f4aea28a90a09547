/** The version of every value Smith writes to etcd. An unknown version is a typed error. */
export const SCHEMA_VERSION = 1;
