import fc from "fast-check";
import { bech32Hrp } from "lifeboat-core";

describe("bech32 checksum (BIP 173 test vectors)", () => {
  it.each([
    ["A12UEL5L", "a"],
    ["a12uel5l", "a"],
    ["abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "abcdef"],
    ["split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "split"],
    ["?1ezyfcl", "?"],
    ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx", "age"],
  ])("accepts %s", (text, hrp) => expect(bech32Hrp(text)).toBe(hrp));

  it.each(["A12UEl5L", "a12uel5m", "pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "A1G7SGD8", "10a06t8", "1qzzfhee"])("refuses %s", (text) => {
    expect(bech32Hrp(text)).toBeUndefined();
  });

  it("refuses every single-character change of a valid age recipient", () => {
    const valid = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
    const alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fc.assert(
      fc.property(fc.integer({ min: 4, max: valid.length - 1 }), fc.constantFrom(...alphabet), (i, c) => {
        fc.pre(valid[i] !== c);
        expect(bech32Hrp(valid.slice(0, i) + c + valid.slice(i + 1))).toBeUndefined();
      }),
    );
  });
});
