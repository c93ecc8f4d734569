// Raw UDP packets sent by real Go memberlist 0.2.2 nodes (captured by test/interop/wire.test.ts with
// CAPTURE_GOLDEN=<file>). Nodes: go-plain (no key), go-a and go-b (key below), receivers ts-*.

/** The key go-a/go-b used: byte i = i*7+1. */
export const GOLDEN_KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);

export const GO_PACKETS = {
  /** ts-udp: plaintext compound(ackResp, alive go-plain) — an ack with a piggybacked broadcast */
  plainCompound:
    "07020014004a0282a75061796c6f6164c0a55365714e6fcd04d20486a441646472a47f000001ab496e6361726e6174696f6e" +
    "01a44d657461aa706c61696e2d6d657461a44e6f6465a8676f2d706c61696ea4506f7274cda94da356736ea6010502000000",
  /** ts-enc: encrypted, compress(compound(ackResp, alive go-b, alive go-a)) — no CRC (receiver not a member) */
  encryptedCompressedCompound:
    "01c9c16276462d5e52d86c833b8b4830d8e5e9a5d2ccec9c4b20efff18b4a714375048051ec3a2c0f138c81696db4774c5e6" +
    "6fcfff363a4964b7ffbabd84c0c3f2b67b85ba0b1b325b96cfddd7fcb258ee53789f4054bef3d7ae2004a47cd13aca13082c" +
    "0c481682a90a86a03e8b8178f247fea58e3103b69eac38cbefaf78d149c4dfd99bd8c1731f0a2b27d3541bbd8b0972b4f3bf" +
    "2339ca27b73622cc898effe34c5ddad684af689b95b6cc2ca2a5635c0c5fc31fce97",
  /** ts-fake: encrypted, CRC, compress(compound(alive ×3)) — gossip to a member with PMax 5 */
  encryptedCrcCompressedCompound:
    "01afeee73a5ab1194e58cd13198ecaf804793c8b82f94f0df401044a4b0e53b0b43c995b95d4a5252688820fd676fca31299" +
    "c8927847569fe32909e77b23dacefff6c8eae6ee2d01af8ff5f03a9755604bdc1822e45a91c5492bff419f9abc9c7fbfd082" +
    "bbc9b90fc134f780538bc8b5f667c4bbbba2227c8ab244ef09d17448ae5106bbe42de771e5c9273ccdbf2fb2283f6c3ba7e2" +
    "34e7322e5afacbff7e47d68482ef16d78d9d4dc836f280129b80715597952a5158fdada6abbf2553807933b3394f61c517ae" +
    "5b7279159ba8caafb54908724a3ab8",
  /** ts-fake: encrypted ping with SourceAddr/SourcePort/SourceNode (a probe) */
  encryptedPingWithSource:
    "01f0c5777acd5bafbf88472ff07a634d0f8ca83328b82567ed747040e6d10d8a270ee6f124783aee52d75108ba7103d92581" +
    "3796db28310fae0dcfaed1011e3db4d402fed9db2a1f750de2d9626fc50078727dfd3b342466a5c530ba02ee550762",
  /** ts-fake: encrypted, CRC, dead go-b from go-b (graceful leave) */
  encryptedCrcDead:
    "01833f564efd0cde866d5d490e1a2c94b91d778d893d1ddb48bea35f18f042213ba158e0b723402a8fa8ae9a797eb2018219" +
    "bfe781ffe0280cd9bca06dcdc927261abb7bb7",
};

/** Raw TCP stream replies from the same capture. */
export const GO_STREAMS = {
  /** reply to a TCP ping (uncompressed request): compress{ackResp} */
  plainAck:
    "0982a4416c676f00a3427566b70005083a05254c1e366fc29001566a4a99384ede140808",
  /** go-a refusing a plaintext stream: 0A | len | blob(compress{errResp}) */
  encryptedErr:
    "0a000000710174e7613ea00b993255dbe0ae26088eb4b44e5053f2ff419ad21745526eb1865472281f83bcd10ecfac5d1543" +
    "295a6a049f1605c4063e063ef7e739204071e6f497055be7a1a526a214d8ff6771c05eb25b660b15f871fdfc64fcd95bc980" +
    "ef36456ec272b26246f2f2699f9968b046d6",
  /** go-a push/pull reply: 0A | len | blob(compress{pushPull: go-a, go-b}) */
  encryptedPushPull:
    "0a000000c201ec7c93167b1720439cbd82eb29c84d80dac6b4fc38f340f0ceb7b055f12066e225e4cc0e80e14ba83c56c4b6" +
    "4f616947f79a842adf37ac8fca60afb49bf0a4659d28531ba0d98e554b95a5ebf2aabb133e0e3f54e2b4557ae116a8fdce34" +
    "ac2ed50b34495ee7e1d49bde7369722243af3c53132de9172171a74df42759b41532eaa7c4424b19e72e58750f57b96e710d" +
    "fce3483a1e8669be2c0ac166c8b4a4fcfb7a4d3cb137a8fee994ca919d18cb97a7c368805ce0c5e382693641a71b8fc84b",
};
