export { Git, type GitOptions, type GitResult } from "./git.ts";
