import path from "node:path";

/*
 * Folders of the checkout, from the working directory: `npm start`, the CLI and the tests run from the
 * project root, and inside the Next.js server import.meta.url points into the build output instead.
 */
export const projectPaths = {
  migrations: path.join(process.cwd(), "prisma", "migrations"),
};
