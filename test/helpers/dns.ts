// A host name that cannot resolve and whose lookup sends nothing off the machine.
// `*.invalid` is only reserved (RFC 6761): the system resolver still sends the query to the configured DNS
// server. A label of 64 octets cannot be encoded in a DNS message at all (RFC 1035 §2.3.4: labels are at most
// 63; the length byte's top bits mark compression pointers), so every resolver fails it locally, before any
// packet: checked with `strace -e trace=connect,sendto` on Bun.connect (no socket to port 53 is opened).
// /etc/hosts is looked up first, and no hosts file names such a label.
export const UNRESOLVABLE_HOST = `${"x".repeat(64)}.invalid`;
