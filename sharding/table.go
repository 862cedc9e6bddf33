package sharding

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// Table maps a Go struct to a sharded logical table: Go's answer to
// MTDDL's @ShardInfo/@ShardOn/@IDGen annotations. Table-level facts
// (prefixes, shard counts, strategy, ID generator) come from the table's
// TableConfig, so they reload with the configuration; the struct maps
// columns with tags:
//
//	type Order struct {
//		ID     int64     `db:"id" shard:"id"`       // filled by Insert from the table's id_gen
//		UserID int64     `db:"user_id" shard:"key"` // the shard column
//		Amount int64     `db:"amount"`
//		Note   string    // column "note" (snake_case of the field name)
//		Cache  []byte    `db:"-"` // not a column
//	}
//
// The shard column is TableConfig.ShardColumn or the field tagged
// `shard:"key"` (both: they must agree); the ID column likewise with
// IDColumn and `shard:"id"`. The shard column may be the ID column.
//
// Every call routes by the shard key; a nil key is ErrNoShardKey. Scatter
// is the explicit way to query without one.
type Table[T any] struct {
	c    *Cluster
	name string
	sch  *schema
	tx   *Tx
	q    atomic.Pointer[tableQueries]
}

// NewTable binds T to the logical table name. It checks the struct against
// the configuration in force, and from then on every Reload checks it
// against the new configuration (a reload that drops the table or names a
// shard column T lacks fails).
func NewTable[T any](c *Cluster, name string) (*Table[T], error) {
	typ := reflect.TypeFor[T]()
	sch, err := schemaOf(typ)
	if err != nil {
		return nil, err
	}
	sch.table = name
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrClosed
	}
	g := c.state.Load()
	t, err := g.table(name)
	if err != nil {
		return nil, err
	}
	if _, err := sch.resolve(t.cfg); err != nil {
		return nil, err
	}
	c.mu.schemas[name] = append(c.mu.schemas[name], sch)
	return &Table[T]{c: c, name: name, sch: sch}, nil
}

// In returns a view of the table whose calls run in tx (the key of each
// call must route to tx's datasource).
func (t *Table[T]) In(tx *Tx) *Table[T] {
	return &Table[T]{c: t.c, name: t.name, sch: t.sch, tx: tx}
}

// column is one mapped struct field.
type column struct {
	name  string
	index []int
}

type schema struct {
	typ           reflect.Type
	table         string
	cols          []column
	byName        map[string]int
	keyTag, idTag string // columns tagged shard:"key" / shard:"id"
	colList       string // `a`, `b`, …
}

func schemaOf(typ reflect.Type) (*schema, error) {
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("sharding: NewTable: %v is not a struct", typ)
	}
	s := &schema{typ: typ, byName: map[string]int{}}
	for _, f := range reflect.VisibleFields(typ) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			continue
		}
		name := f.Tag.Get("db")
		if name == "-" {
			continue
		}
		if name == "" {
			name = snake(f.Name)
		}
		if !validName(name) {
			return nil, fmt.Errorf("sharding: %v.%s: column %q must be of [A-Za-z0-9_]", typ, f.Name, name)
		}
		if _, dup := s.byName[name]; dup {
			return nil, fmt.Errorf("sharding: %v: two fields map to column %q", typ, name)
		}
		s.byName[name] = len(s.cols)
		s.cols = append(s.cols, column{name: name, index: f.Index})
		for _, opt := range strings.Split(f.Tag.Get("shard"), ",") {
			switch opt {
			case "":
			case "key":
				if s.keyTag != "" {
					return nil, fmt.Errorf("sharding: %v: two fields tagged shard:\"key\"", typ)
				}
				s.keyTag = name
			case "id":
				if s.idTag != "" {
					return nil, fmt.Errorf("sharding: %v: two fields tagged shard:\"id\"", typ)
				}
				s.idTag = name
			default:
				return nil, fmt.Errorf("sharding: %v.%s: unknown shard tag option %q (key, id)", typ, f.Name, opt)
			}
		}
	}
	if len(s.cols) == 0 {
		return nil, fmt.Errorf("sharding: %v has no exported fields", typ)
	}
	names := make([]string, len(s.cols))
	for i, c := range s.cols {
		names[i] = quote(c.name)
	}
	s.colList = strings.Join(names, ", ")
	return s, nil
}

func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// resolved is a schema checked against one TableConfig: column indexes of
// the shard key and the ID (-1: none).
type resolved struct{ key, id int }

func (s *schema) resolve(tc TableConfig) (resolved, error) {
	pick := func(cfg, tag, what string) (int, error) {
		col := cfg
		if col == "" {
			col = tag
		} else if tag != "" && tag != cfg {
			return -1, fmt.Errorf("%w: table %q: config %s %q but %v tags %q", ErrBadConfig, tc.Name, what, cfg, s.typ, tag)
		}
		if col == "" {
			return -1, nil
		}
		i, ok := s.byName[col]
		if !ok {
			return -1, fmt.Errorf("%w: table %q: %s %q is not a column of %v", ErrBadConfig, tc.Name, what, col, s.typ)
		}
		return i, nil
	}
	key, err := pick(tc.ShardColumn, s.keyTag, "shard_column")
	if err != nil {
		return resolved{}, err
	}
	if key < 0 {
		return resolved{}, fmt.Errorf("%w: table %q: no shard_column in the config and no field of %v tagged shard:\"key\"", ErrBadConfig, tc.Name, s.typ)
	}
	id, err := pick(tc.IDColumn, s.idTag, "id_column")
	if err != nil {
		return resolved{}, err
	}
	return resolved{key: key, id: id}, nil
}

// tableQueries are T's statements for one generation.
type tableQueries struct {
	g      *generation
	r      resolved
	cols   string // `a`,`b`,…
	insert string
	get    string // by key (and id)
	update string
	del    string
}

func quote(c string) string { return "`" + c + "`" }

func (t *Table[T]) queries(g *generation) (*tableQueries, error) {
	if q := t.q.Load(); q != nil && q.g == g {
		return q, nil
	}
	tb, err := g.table(t.name)
	if err != nil {
		return nil, err
	}
	r, err := t.sch.resolve(tb.cfg)
	if err != nil {
		return nil, err
	}
	ph := "{" + t.name + "}"
	marks := make([]string, len(t.sch.cols))
	var sets []string
	for i, c := range t.sch.cols {
		marks[i] = "?"
		if i != r.key && i != r.id {
			sets = append(sets, quote(c.name)+" = ?")
		}
	}
	where := " WHERE " + quote(t.sch.cols[r.key].name) + " = ?"
	if r.id >= 0 && r.id != r.key {
		where += " AND " + quote(t.sch.cols[r.id].name) + " = ?"
	}
	q := &tableQueries{g: g, r: r, cols: t.sch.colList}
	q.insert = "INSERT INTO " + ph + " (" + q.cols + ") VALUES (" + strings.Join(marks, ", ") + ")"
	q.get = "SELECT " + q.cols + " FROM " + ph + where
	q.del = "DELETE FROM " + ph + where
	if len(sets) > 0 {
		q.update = "UPDATE " + ph + " SET " + strings.Join(sets, ", ") + where
	}
	t.q.Store(q)
	return q, nil
}

// pin returns the generation a call runs on: the transaction's, or the
// configuration in force (released by the returned func).
func (t *Table[T]) pin() (*generation, func(), error) {
	if t.tx != nil {
		return t.tx.g, func() {}, nil
	}
	g, err := t.c.acquire()
	if err != nil {
		return nil, nil, err
	}
	return g, g.release, nil
}

// keyOf converts a struct field into a shard key.
func keyOf(f reflect.Value) (Value, error) {
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Int(f.Int()), nil
	case reflect.String:
		return String(f.String()), nil
	}
	return ValueOf(f.Interface())
}

// Insert writes row to the shard of its shard column. When the table has
// an ID column whose field is zero and an id_gen, the ID is taken from the
// generator first and stored in row (also when the ID is the shard key).
func (t *Table[T]) Insert(ctx context.Context, row *T) error {
	g, release, err := t.pin()
	if err != nil {
		return err
	}
	defer release()
	q, err := t.queries(g)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(row).Elem()
	if q.r.id >= 0 {
		f := rv.FieldByIndex(t.sch.cols[q.r.id].index)
		if f.IsZero() {
			if gen := g.tables[t.name].idgen; gen != nil {
				id, err := gen.NextID(ctx)
				if err != nil {
					return fmt.Errorf("sharding: table %q: next id: %w", t.name, err)
				}
				switch f.Kind() {
				case reflect.Int, reflect.Int64:
					f.SetInt(id)
				case reflect.Uint64:
					f.SetUint(uint64(id))
				default:
					return fmt.Errorf("sharding: table %q: id field of kind %v cannot hold a generated int64", t.name, f.Kind())
				}
			}
		}
	}
	key, err := keyOf(rv.FieldByIndex(t.sch.cols[q.r.key].index))
	if err != nil {
		return err
	}
	args := make([]any, len(t.sch.cols))
	for i, c := range t.sch.cols {
		args[i] = rv.FieldByIndex(c.index).Interface()
	}
	_, err = t.c.exec(ctx, g, t.tx, t.name, key, q.insert, args)
	return err
}

// keyArgs returns the WHERE arguments for (key, id).
func (t *Table[T]) keyArgs(q *tableQueries, key Value, id any) ([]any, error) {
	if q.r.id >= 0 && q.r.id != q.r.key {
		if id == nil {
			return nil, fmt.Errorf("sharding: table %q: id is required", t.name)
		}
		return []any{key.Any(), id}, nil
	}
	return []any{key.Any()}, nil
}

// Get returns the row with shard key key and ID id (id is ignored when the
// ID column is the shard column). No row is ErrNotFound.
func (t *Table[T]) Get(ctx context.Context, key, id any) (*T, error) {
	k, err := ValueOf(key)
	if err != nil {
		return nil, fmt.Errorf("table %q: Get: %w", t.name, err)
	}
	g, release, err := t.pin()
	if err != nil {
		return nil, err
	}
	defer release()
	q, err := t.queries(g)
	if err != nil {
		return nil, err
	}
	if q.r.id < 0 {
		return nil, fmt.Errorf("sharding: table %q: Get needs an ID column; use List", t.name)
	}
	args, err := t.keyArgs(q, k, id)
	if err != nil {
		return nil, err
	}
	rows, err := t.c.query(ctx, g, t.tx, t.name, k, q.get, args, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, ErrNotFound
	}
	row, err := t.scan(rows)
	if err != nil {
		return nil, err
	}
	return row, rows.Close()
}

// Filter narrows List and Scatter. Where is an SQL condition with ?
// placeholders for Args; OrderBy an ORDER BY list; Limit > 0 a LIMIT.
type Filter struct {
	Where   string
	Args    []any
	OrderBy string
	Limit   int
}

func (f Filter) sql(base string, keyed bool) string {
	var b strings.Builder
	b.WriteString(base)
	if f.Where != "" {
		if keyed {
			b.WriteString(" AND (")
		} else {
			b.WriteString(" WHERE (")
		}
		b.WriteString(f.Where)
		b.WriteString(")")
	}
	if f.OrderBy != "" {
		b.WriteString(" ORDER BY ")
		b.WriteString(f.OrderBy)
	}
	if f.Limit > 0 {
		b.WriteString(" LIMIT ")
		b.WriteString(strconv.Itoa(f.Limit))
	}
	return b.String()
}

// List returns the rows of shard key key that match f. The query runs on
// the one physical table key routes to; a nil key is ErrNoShardKey (use
// Scatter).
func (t *Table[T]) List(ctx context.Context, key any, f Filter) ([]T, error) {
	k, err := ValueOf(key)
	if err != nil {
		return nil, fmt.Errorf("table %q: List: %w", t.name, err)
	}
	g, release, err := t.pin()
	if err != nil {
		return nil, err
	}
	defer release()
	q, err := t.queries(g)
	if err != nil {
		return nil, err
	}
	query := f.sql("SELECT "+q.cols+" FROM {"+t.name+"} WHERE "+quote(t.sch.cols[q.r.key].name)+" = ?", true)
	args := append([]any{k.Any()}, f.Args...)
	rows, err := t.c.query(ctx, g, t.tx, t.name, k, query, args, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		row, err := t.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// Update writes every column of row except the shard key and the ID,
// selecting the row by both. It returns the number of rows changed.
func (t *Table[T]) Update(ctx context.Context, row *T) (int64, error) {
	g, release, err := t.pin()
	if err != nil {
		return 0, err
	}
	defer release()
	q, err := t.queries(g)
	if err != nil {
		return 0, err
	}
	if q.update == "" {
		return 0, fmt.Errorf("sharding: table %q: no column to update besides the key and ID", t.name)
	}
	if q.r.id < 0 {
		return 0, fmt.Errorf("sharding: table %q: Update needs an ID column", t.name)
	}
	rv := reflect.ValueOf(row).Elem()
	key, err := keyOf(rv.FieldByIndex(t.sch.cols[q.r.key].index))
	if err != nil {
		return 0, err
	}
	var args []any
	for i, c := range t.sch.cols {
		if i != q.r.key && i != q.r.id {
			args = append(args, rv.FieldByIndex(c.index).Interface())
		}
	}
	wargs, err := t.keyArgs(q, key, rv.FieldByIndex(t.sch.cols[q.r.id].index).Interface())
	if err != nil {
		return 0, err
	}
	res, err := t.c.exec(ctx, g, t.tx, t.name, key, q.update, append(args, wargs...))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Delete removes the row with shard key key and ID id; it returns the
// number of rows removed.
func (t *Table[T]) Delete(ctx context.Context, key, id any) (int64, error) {
	k, err := ValueOf(key)
	if err != nil {
		return 0, fmt.Errorf("table %q: Delete: %w", t.name, err)
	}
	g, release, err := t.pin()
	if err != nil {
		return 0, err
	}
	defer release()
	q, err := t.queries(g)
	if err != nil {
		return 0, err
	}
	args, err := t.keyArgs(q, k, id)
	if err != nil {
		return 0, err
	}
	res, err := t.c.exec(ctx, g, t.tx, t.name, k, q.del, args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Scatter queries every physical table with f (Where/OrderBy/Limit are
// pushed down to each shard) and merges the rows. With cmp the merged rows
// are sorted by it (use the same order as f.OrderBy), and f.Limit then
// applies to the merged result too; without cmp they are in table order.
func (t *Table[T]) Scatter(ctx context.Context, f Filter, opts ScatterOptions, cmp func(a, b *T) int) ([]T, error) {
	if t.tx != nil {
		return nil, fmt.Errorf("%w: Scatter cannot run in a transaction", ErrCrossShard)
	}
	query := f.sql("SELECT "+t.sch.colList+" FROM {"+t.name+"}", false)
	out, err := Scatter(ctx, t.c, t.name, query, opts, func(r *Rows) (T, error) {
		row, err := t.scan(r)
		if err != nil {
			var zero T
			return zero, err
		}
		return *row, nil
	}, f.Args...)
	if cmp != nil && out != nil {
		slices.SortStableFunc(out, func(a, b T) int { return cmp(&a, &b) })
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[:f.Limit]
		}
	}
	return out, err
}

func (t *Table[T]) scan(rows *Rows) (*T, error) {
	row := new(T)
	rv := reflect.ValueOf(row).Elem()
	dest := make([]any, len(t.sch.cols))
	for i, c := range t.sch.cols {
		dest[i] = rv.FieldByIndex(c.index).Addr().Interface()
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, fmt.Errorf("sharding: table %q: scan: %w", t.name, err)
	}
	return row, nil
}
