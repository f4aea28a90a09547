export { createSmithMcpServer, TAIL_LIMITS, type SmithMcpOptions } from "./server.ts";
export { handleMcpHttp } from "./http.ts";
