export { createDemoRepository, DEMO_PRD, type DemoRepository } from "./demo.ts";
