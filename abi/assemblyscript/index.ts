// The package's entry for `import … from "@blockhost/sdk"` (asc looks for
// index.ts at a package's root). The SDK is in assembly/.
export * from "./assembly/index";
