export * from "./dtype";
export * from "./errors";
export * from "./layout";
export * from "./peft";
export * from "./safetensors";
