import { GitHubServer, etcdTest } from "@smith/testing";
import { describe, expect } from "vitest";
import { startTestApi } from "../testSupport.ts";

describe("flatline comments on the source issue", () => {
  etcdTest(
    "a loop from an issue that the reconciler flatlines (replica lost): one comment with the reason, however many API processes watch",
    async ({ etcdEndpoint, prefix }) => {
      const github = await GitHubServer.start();
      await github.createRepository("acme", "app");
      const token = github.createToken("smith-bot", { permission: "WRITE" });
      const options = {
        github: {
          apiUrl: github.apiUrl,
          token: async () => token,
          loopTemplate: { agent: { provider: "replay" as const }, limits: { maxAttempts: 1 } },
        },
      };
      const a = await startTestApi(etcdEndpoint, prefix, options);
      const b = await startTestApi(etcdEndpoint, prefix, options);
      try {
        const issue = github.createIssue("acme", "app", { title: "Lost" });
        const made = await a
          .client(a.tokens.operator)
          .github.createFromIssue.mutate({ ref: `acme/app#${issue.number}` });
        if (!("loopId" in made)) throw new Error("no loop");
        // What the reconciler does when the only attempt's replica is gone.
        await a.store.loops.transition(made.loopId, {
          type: "claimed",
          schedulerId: "s",
          at: new Date().toISOString(),
        });
        await a.store.loops.transition(made.loopId, {
          type: "replicaLost",
          attempt: 1,
          message: "replica lost on attempt 1 (its executor reports it failed)",
          at: new Date().toISOString(),
        });
        const comments = () => github.issue("acme", "app", issue.number).comments;
        const deadline = Date.now() + 10_000;
        while (comments().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        await new Promise((r) => setTimeout(r, 500));
        expect(comments()).toHaveLength(1);
        expect(comments()[0]?.body).toContain(
          `Smith's loop \`${made.loopId}\` stopped without finishing: **replica-lost**`,
        );
        expect(comments()[0]?.body).toContain("replica lost on attempt 1");
      } finally {
        await a.close();
        await b.close();
        await github.close();
      }
    },
  );
});
