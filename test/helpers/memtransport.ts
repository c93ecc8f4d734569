// The in-memory network now lives in sim/ (the simulator drives it on a virtual clock); tests keep this path.
export * from "../../sim/memtransport.ts";
