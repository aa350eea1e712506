import { plan } from "../cli/planCli";

describe("lifeboat plan says which profile applies and why", () => {
  it("in the text tree and in --json, for the shipped stacks", async () => {
    const [prod, staging] = await Promise.all([plan("--stack", "prod"), plan("--stack", "staging", "--json")]);
    expect(prod.code).toBe(0);
    expect(prod.stdout).toContain('profile: "production (from the stack name \\"prod\\")"');
    expect(JSON.parse(staging.stdout).outputs.profile).toBe('staging (from the stack name "staging")');
  }, 60_000);
});
