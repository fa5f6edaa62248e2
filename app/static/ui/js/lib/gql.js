// The UI's only way to read and change things: the same /graphql every client uses.
const TOKEN_KEY = "opgraph.token";

/** A request that failed, or a typed error (`... on Error { message }`) answered by a field. */
export class GraphQLFailure extends Error {
  constructor(message, { typename = null, details = null, result = null } = {}) {
    super(message);
    this.typename = typename;
    this.details = details;
    this.result = result;
  }
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** POST a query or mutation; returns `data`, throws GraphQLFailure on any error. */
export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new GraphQLFailure(`the webserver did not answer (${error.message})`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLFailure(`/graphql answered HTTP ${response.status} with something other than JSON`);
  }
  if (body.errors && body.errors.length) {
    throw new GraphQLFailure(body.errors.map((e) => e.message).join("; "));
  }
  if (!response.ok) throw new GraphQLFailure(`/graphql answered HTTP ${response.status}`);
  return body.data;
}

/** The field's result if it is of `typename`, else throw its typed error with the message. */
export function expectType(result, typename) {
  const wanted = Array.isArray(typename) ? typename : [typename];
  if (result && wanted.includes(result.__typename)) return result;
  const message = result?.message || `unexpected answer ${result?.__typename || "(none)"}`;
  let details = null;
  if (result?.errors?.length) details = result.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("\n");
  if (result?.invalidStepKeys?.length) details = `unknown steps: ${result.invalidStepKeys.join(", ")}`;
  throw new GraphQLFailure(message, { typename: result?.__typename, details, result });
}

/** Fragment spread that every `...OrError` selection ends with. */
export const ERROR_FIELDS = "__typename ... on Error { message }";
