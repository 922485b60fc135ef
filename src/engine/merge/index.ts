export * from "./device";
export { loadNative, nativeLoadError, type NativeInfo } from "./native";
export * from "./plan";
export * from "./reference";
export * from "./registry";
export * from "./rng";
export * from "./mergekit";
