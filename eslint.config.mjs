// Flat config. Rules without type information on purpose: the type-checked set would run the full program per file,
// and `npm test` already runs tsc.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "src/server/db/generated/**",
      // Dot-folders at the root are build output, data and local carry folders (.next, .data, device bundles).
      ".*/**",
      "native/build/**",
      "node_modules/**",
      "test-results/**",
      "playwright-report/**",
      "next-env.d.ts",
      "data/**",
      "initial_experts/**",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    // The plain-JS build scripts run under Node; TypeScript files get their globals from tsc.
    files: ["**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
  {
    rules: {
      // `const { dropped: _, ...rest } = value` is how this code omits a field.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
      // A `let` that a closure reads before its one assignment (start.ts's worker) cannot be a const.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ["src/app/**/*.{ts,tsx}"],
    ...reactHooks.configs.flat.recommended,
  },
);
