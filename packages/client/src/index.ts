// @vigil/client — the TypeScript SDK (DESIGN.md §9). Being written.
export {};
