import { listDevices, loadNative, openDevice } from "../../src/engine/merge";

/** Every merge backend this machine has: the TypeScript kernels, the native CPU kernels when built, each CUDA GPU. */
export const mergeDevicesUnderTest = [
  { label: "typescript cpu", open: () => openDevice("cpu", { backend: "typescript" }) },
  ...(loadNative() ? [{ label: "native cpu", open: () => openDevice("cpu", { backend: "native" }) }] : []),
  ...listDevices()
    .filter((d) => d.startsWith("cuda:"))
    .map((d) => ({ label: `native ${d}`, open: () => openDevice(d) })),
];
