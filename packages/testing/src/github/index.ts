export { GitHubServer, type RestCall, type StartGitHubServerOptions, type WebhookDelivery } from "./server.ts";
export type { GraphQLCall } from "./graphql.ts";
export { githubSchema } from "./schema.ts";
export type {
  FakeApp,
  FakeCheckRun,
  FakeComment,
  FakeInstallation,
  FakeIssue,
  FakePullRequest,
  FakeRepository,
  FakeReview,
  FakeReviewThread,
  Permission,
  TokenGrant,
} from "./state.ts";
