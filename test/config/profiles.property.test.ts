import fc from "fast-check";
import { NAME_PATTERN } from "lifeboat-core";
import { chooseProfile, PROFILES, profileForStack } from "../../components/config";
import { environmentFor, MAX_ENVIRONMENT_LENGTH } from "../../components/config/checks";

const PROFILE_WORD = { production: "prod", staging: "staging", development: "dev" } as const;
/** Words that say no profile (nor contain one as a whole word). */
const neutral = fc.constantFrom("eu", "us", "customer", "a", "2", "products", "preprod2", "devops", "eu1");
const sep = fc.constantFrom("-", "_", ".");
const casing = fc.constantFrom((s: string) => s, (s: string) => s.toUpperCase(), (s: string) => s[0]!.toUpperCase() + s.slice(1));

describe("profile from the stack name", () => {
  it("is the one profile a word of the name says, in any case and position", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PROFILES), fc.array(neutral, { maxLength: 3 }), fc.nat(3), sep, casing, (profile, words, at, s, cased) => {
        const all: string[] = [...words];
        all.splice(Math.min(at, all.length), 0, cased(PROFILE_WORD[profile]));
        expect(profileForStack(all.join(s))).toBe(profile);
      }),
    );
  });

  it("is undefined when no word says one, or two profiles are said: the stack must set lifeboat:profile", () => {
    fc.assert(
      fc.property(fc.array(neutral, { minLength: 1, maxLength: 4 }), sep, (words, s) => {
        expect(profileForStack(words.join(s))).toBeUndefined();
        expect(chooseProfile(undefined, words.join(s))).toBeUndefined();
      }),
    );
    expect(profileForStack("prod-staging")).toBeUndefined();
  });

  it("lifeboat:profile wins over the stack name, and says so", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PROFILES), fc.string(), (profile, stack) => {
        expect(chooseProfile(profile, stack)).toEqual({ profile, reason: "set by lifeboat:profile" });
      }),
    );
  });
});

describe("environment from the stack name", () => {
  it("is always a valid name of at most 40 characters, or an issue naming lifeboat:environment", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$/), (stack) => {
        const env = environmentFor(undefined, stack);
        if ("environment" in env) {
          expect(env.environment).toMatch(NAME_PATTERN);
          expect(env.environment.length).toBeLessThanOrEqual(MAX_ENVIRONMENT_LENGTH);
        } else {
          expect(env.issue.key).toBe("lifeboat:environment");
        }
      }),
    );
  });
});
