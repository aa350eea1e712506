import { lifeboatProgram } from "./components/program";

// The Lifeboat program: one environment per stack, all of it from stack config
// (components/program.ts); its return value is the stack's outputs.
export = lifeboatProgram();
