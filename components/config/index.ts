export * from "./schema";
export * from "./fields";
export * from "./errors";
export * from "./profiles";
export * from "./validate";
export * from "./secrecy";
export * from "./stackConfig";
export * from "./objectives";
