/** fast-check arbitraries for every PDU kind: one copy, in src/fuzz (the fuzzer uses them at run time). */
export * from '../../src/fuzz/arbitraries.js';
