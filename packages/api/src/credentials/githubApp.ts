import { createAppAuth } from "@octokit/auth-app";
import { request as octokitRequest } from "@octokit/request";
import { SmithError } from "@smith/core";

const DEFAULT_GITHUB_API_URL = "https://api.github.com";

export interface MintInstallationTokenOptions {
  /** The credential's name, for errors. */
  credential: string;
  appId: number;
  privateKey: string;
  /** Looked up with GET /repos/{owner}/{repo}/installation when absent. */
  installationId?: number;
  owner: string;
  repo: string;
  /** GitHub's REST base URL (GitHub Enterprise: `https://HOST/api/v3`). */
  baseUrl?: string;
}

/**
 * A fresh installation token for one repository (POST /app/installations/{id}/access_tokens with
 * `repositories: [repo]`), one per call: nothing is cached across attempts, so that each attempt
 * holds a token of its own that expires within the hour. Errors carry GitHub's status and message,
 * never the private key or the JWT.
 */
export async function mintInstallationToken(
  options: MintInstallationTokenOptions,
): Promise<{ token: string; expiresAt: string }> {
  const request = octokitRequest.defaults({
    baseUrl: (options.baseUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ""),
    headers: { "user-agent": "smith" },
  });
  const auth = createAppAuth({ appId: options.appId, privateKey: options.privateKey, request });
  try {
    let installationId = options.installationId;
    if (installationId === undefined) {
      const { token: jwt } = await auth({ type: "app" });
      const res = await request("GET /repos/{owner}/{repo}/installation", {
        owner: options.owner,
        repo: options.repo,
        headers: { authorization: `bearer ${jwt}` },
      });
      installationId = res.data.id;
    }
    const result = await auth({
      type: "installation",
      installationId,
      repositoryNames: [options.repo],
      refresh: true,
    });
    return { token: result.token, expiresAt: result.expiresAt };
  } catch (err) {
    throw mintError(options, err);
  }
}

function mintError(options: MintInstallationTokenOptions, err: unknown): SmithError {
  const status = typeof (err as { status?: unknown }).status === "number" ? (err as { status: number }).status : 0;
  const where = `${options.owner}/${options.repo}`;
  // A bad key surfaces from the JWT signer; say so without its text (which may quote the key).
  const why =
    status === 0
      ? "the App's private key does not sign, or GitHub is unreachable"
      : `GitHub answered ${status}${status === 404 ? " (is the App installed on the repository?)" : ""}`;
  return new SmithError(
    status === 0 || status >= 500 ? "unavailable" : "invalid_argument",
    `credential ${options.credential}: no installation token for ${where}: ${why}`,
    { field: "credential", credential: options.credential, status },
  );
}
