/**
 * Every GraphQL document Smith sends to GitHub. The test server validates each against GitHub's
 * published schema, so a misspelt field fails there as it would on github.com.
 */

const ISSUE_FIELDS = `
  id
  number
  title
  body
  url
  state
  author { login }
  labels(first: 50) { nodes { name } }
`;

export const GET_ISSUE = `
query SmithGetIssue($owner: String!, $name: String!, $number: Int!, $comments: Int!) {
  repository(owner: $owner, name: $name) {
    issue(number: $number) {
      ${ISSUE_FIELDS}
      comments(first: $comments) {
        totalCount
        nodes { id body url createdAt author { login } }
      }
    }
  }
}`;

export const ISSUES_BY_LABEL = `
query SmithIssuesByLabel($owner: String!, $name: String!, $labels: [String!], $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(labels: $labels, states: [OPEN], first: $first, after: $after, orderBy: { field: CREATED_AT, direction: ASC }) {
      pageInfo { hasNextPage endCursor }
      nodes { ${ISSUE_FIELDS} }
    }
  }
}`;

export const GET_REPOSITORY = `
query SmithRepository($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id
    url
    viewerPermission
    defaultBranchRef { name }
  }
}`;

export const COLLABORATOR_PERMISSION = `
query SmithCollaboratorPermission($owner: String!, $name: String!, $login: String!) {
  repository(owner: $owner, name: $name) {
    collaborators(login: $login, first: 1) {
      edges { permission node { login } }
    }
  }
}`;

const PULL_REQUEST_FIELDS = `
  id
  number
  url
  state
  title
  headRefName
  baseRefName
`;

export const PULL_REQUEST_FOR_HEAD = `
query SmithPullRequestForHead($owner: String!, $name: String!, $head: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(headRefName: $head, states: [OPEN], first: 1, orderBy: { field: CREATED_AT, direction: DESC }) {
      nodes { ${PULL_REQUEST_FIELDS} }
    }
  }
}`;

export const CREATE_PULL_REQUEST = `
mutation SmithCreatePullRequest($input: CreatePullRequestInput!) {
  createPullRequest(input: $input) {
    pullRequest { ${PULL_REQUEST_FIELDS} }
  }
}`;

export const UPDATE_PULL_REQUEST = `
mutation SmithUpdatePullRequest($input: UpdatePullRequestInput!) {
  updatePullRequest(input: $input) {
    pullRequest { ${PULL_REQUEST_FIELDS} }
  }
}`;

export const ENABLE_AUTO_MERGE = `
mutation SmithEnableAutoMerge($input: EnablePullRequestAutoMergeInput!) {
  enablePullRequestAutoMerge(input: $input) {
    pullRequest { id }
  }
}`;

export const ADD_COMMENT = `
mutation SmithAddComment($input: AddCommentInput!) {
  addComment(input: $input) {
    commentEdge { node { id url } }
  }
}`;

export const PULL_REQUEST_FEEDBACK = `
query SmithPullRequestFeedback($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      ${PULL_REQUEST_FIELDS}
      reviewDecision
      reviews(last: 30) {
        nodes { id state body submittedAt author { login } }
      }
      reviewThreads(first: 50) {
        nodes {
          isResolved
          isOutdated
          path
          line
          comments(first: 20) { nodes { id body author { login } } }
        }
      }
      commits(last: 1) {
        nodes {
          commit {
            oid
            checkSuites(first: 20) {
              nodes {
                checkRuns(first: 50) {
                  nodes { name status conclusion title summary text detailsUrl }
                }
              }
            }
          }
        }
      }
    }
  }
}`;
