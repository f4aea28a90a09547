/** The version of this Smith build (kept in step with the packages' version). */
export const SMITH_VERSION = "0.1.0";
/** The API's wire version: clients and replicas check it on connect. */
export const API_VERSION = "v1";
