/**
 * Evaluates IAM documents with an independent evaluator (@cloud-copilot/iam-simulate), one
 * request at a time, never by comparing JSON. Every simulation must validate (real action
 * names, resource types, context keys) and no context key may be silently ignored, so a typo
 * cannot turn into a passing "denied".
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { PolicyDocument } from "../../components/access/iamDocuments";

export type Decision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

export const ACCOUNT = "123456789012";
export const USER = `arn:aws:iam::${ACCOUNT}:user/lifeboat-prod-main-db-writer`;
/** The default key policy: the account's IAM policies decide (KMS needs a key policy to allow at all). */
export const KEY_POLICY = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" }],
};

/** The evaluator's decision for one request by `principal` under `policy`. */
export async function decide(
  policy: PolicyDocument,
  action: string,
  resource: string,
  context: Record<string, string | string[]> = {},
  principal = USER,
): Promise<Decision> {
  const result = await runSimulation(
    {
      request: { principal, action, resource: { resource, accountId: ACCOUNT }, contextVariables: context },
      identityPolicies: [{ name: "under-test", policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(action.startsWith("kms:") ? { resourcePolicy: KEY_POLICY } : {}),
    },
    {},
  );
  if (result.resultType === "error") throw new Error(`simulation rejected ${action} ${resource}: ${JSON.stringify(result.errors)}`);
  if (result.resultType !== "single") throw new Error(`unexpected wildcard simulation for ${resource}`);
  const ignored = result.result.ignoredContextKeys ?? [];
  if (ignored.length) throw new Error(`simulator ignored context keys ${ignored.join(", ")} for ${action}`);
  return result.overallResult as Decision;
}
