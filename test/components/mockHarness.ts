import * as pulumi from "@pulumi/pulumi";
import { mockCall, mockOutputs } from "../../cli/plan/mocks";

/** A resource the component declared, with its inputs as the engine received them. */
export interface Declared {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** The provider reference (URN::id) the resource was given, if any. */
  provider?: string;
}

const declared: Declared[] = [];

/**
 * Installs Pulumi mocks for this test file (as an update, so every output is known) using
 * the same realistic outputs as `lifeboat plan`. Call once at the top of a test file.
 */
export function installMocks(stack = "test"): void {
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        declared.push({ type: args.type, name: args.name, inputs: args.inputs, ...(args.provider ? { provider: args.provider } : {}) });
        return mockOutputs(args, (a) => String(a.inputs.region ?? "us-east-1"));
      },
      call: mockCall,
    },
    "lifeboat",
    stack,
    false,
  );
}

/** Runs `declare`, waits until every registration reached the mocks, returns what was declared. */
export async function declare(fn: () => unknown): Promise<Declared[]> {
  declared.length = 0;
  fn();
  // waitForRPCs is what `disconnect` awaits; it is not in the typings, but it is the one way to
  // know every registration reached the monitor without closing it for the next test.
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return [...declared];
}

/** The value of an Output, for assertions. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

/** True when the engine received `value` marked as a secret. */
export function isSecretValue(value: unknown): boolean {
  return !!value && typeof value === "object" && (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

export function ofType(resources: Declared[], type: string): Declared[] {
  return resources.filter((r) => r.type === type);
}

export function one(resources: Declared[], type: string): Declared {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
  return found[0]!;
}
