import { SOURCE_KINDS } from "lifeboat-core";
import { source } from "../../components/config/schema";

describe("source kinds are defined once (lifeboat-core's SOURCE_KINDS)", () => {
  it("stack config has a source schema for exactly the kinds the runner backs up", () => {
    const configKinds = source.options.map((o) => o.shape.kind.value);
    expect([...configKinds].sort()).toEqual([...SOURCE_KINDS].sort());
  });
});
