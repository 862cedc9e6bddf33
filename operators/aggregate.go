package operators

// Aggregator folds items of type T into accumulators of type A (usually a
// pointer to a struct). Implementations define the grouping key and a
// compact binary encoding of accumulators, which is what keyed state stores.
//
// Merge must be associative and commutative and Add must equal merging a
// one-item accumulator: the engine pre-aggregates a batch, spills partial
// accumulators to Pebble as merge operands and combines them in any order,
// and the results must not depend on how items were split.
type Aggregator[T any, A any] interface {
	// Key appends the grouping key of item (without the window) to dst.
	Key(dst []byte, item *T) []byte
	// EventTime returns the item's event time in ms.
	EventTime(item *T) int64
	// New returns an empty accumulator.
	New() A
	// Reset empties acc so it can be reused.
	Reset(acc A)
	// Add folds item into acc. key is the item's grouping key; it is only
	// valid during the call.
	Add(acc A, key []byte, item *T)
	// Merge folds src into dst.
	Merge(dst, src A)
	// Append appends acc's binary encoding to dst.
	Append(dst []byte, acc A) []byte
	// Decode replaces acc's content with the encoding in src; acc must not
	// retain src.
	Decode(acc A, src []byte) error
}
