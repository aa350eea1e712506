export * from "./tier";
export * from "./retention";
export * from "./layout";
export * from "./duration";
export * from "./schedule";
export * from "./bech32";
export * from "./pitrWindow";
export * from "./contract";
