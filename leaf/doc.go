// Package leaf hands out unique int64 IDs the way Meituan's Leaf does, in
// two modes that share the Generator interface.
//
// Segment mode (Segment) keeps, per business tag of the leaf_alloc table, a
// segment of IDs [max_id-step, max_id) fetched with one atomic UPDATE, and
// hands IDs out from memory with one atomic add. When PreloadThreshold of
// the current segment is used, the tag's single loader goroutine fetches
// the next segment in the background (double buffering), so callers never
// wait for the database while it answers faster than a segment lasts. When
// both segments are used up, callers wait up to their context deadline and
// then get ErrSegmentsExhausted — never a sentinel ID. The step adapts to
// the load (Leaf's 15-minute rule) and tags added to the table are picked
// up while running. Close gives unused IDs back when it safely can.
//
// Snowflake mode (Snowflake) composes IDs from a millisecond timestamp, a
// worker id leased from the leaf_worker table, and a per-millisecond
// sequence starting at a random offset. The lease is renewed by a
// heartbeat; the generator fences itself on the monotonic clock before the
// lease can expire, so a paused process cannot share a worker id with its
// successor. Backwards clock steps are waited out when small and refused
// when large, at start and while running.
//
// Migrate creates the tables; leaf/leafhttp serves both modes over HTTP
// (`das leaf serve`). IDGen is a generator with the tag bound, the ID
// strategy the sharding layer plugs in. docs/leaf.md has the operations
// guide, the IDs skipped across restarts, and measured performance.
//
// Time comes from an injected Clock; metrics go to an injected
// prometheus.Registerer. The package starts no goroutine outside a
// generator, whose Close stops them all, and never prints.
package leaf
