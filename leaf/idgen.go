package leaf

import "context"

// Generator hands out unique int64 IDs per tag. Both *Segment and
// *Snowflake implement it, and so does the HTTP client of leaf/server.
//
// IDs returned to one caller (one goroutine calling in sequence) strictly
// increase; IDs are never returned twice, across goroutines, processes
// sharing the database, and restarts.
type Generator interface {
	NextID(ctx context.Context, tag string) (int64, error)
	// NextIDs returns n IDs in increasing order. They are not necessarily
	// consecutive (a batch may span two segments).
	NextIDs(ctx context.Context, tag string, n int) ([]int64, error)
}

// IDGen is a Generator with the tag bound: what the sharding layer plugs in
// as an ID strategy for one logical table.
type IDGen interface {
	NextID(ctx context.Context) (int64, error)
}

// Bind returns the IDGen for tag on g. For a *Segment, prefer
// (*Segment).Tag, which also skips the tag lookup on each call.
func Bind(g Generator, tag string) IDGen { return bound{g: g, tag: tag} }

type bound struct {
	g   Generator
	tag string
}

func (b bound) NextID(ctx context.Context) (int64, error) { return b.g.NextID(ctx, b.tag) }

var (
	_ Generator = (*Segment)(nil)
	_ Generator = (*Snowflake)(nil)
	_ IDGen     = (*SegmentTag)(nil)
	_ IDGen     = bound{}
)
