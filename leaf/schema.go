package leaf

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// migrations holds the DDL, one file per version: NNNN_name.sql. Files are
// applied in order, once each, recorded in leaf_schema_migrations.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migration is one schema version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the shipped schema migrations in order, for tools that
// manage DDL themselves (print them and apply them by hand).
func Migrations() ([]Migration, error) {
	ents, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range ents {
		name := e.Name()
		vs, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(vs)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("leaf: BUG: bad migration file name %q", name)
		}
		b, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Statements splits a migration into statements: it drops "--" comment
// lines and splits on ";" at the end of a line. The shipped DDL has no
// semicolons inside literals.
func (m Migration) Statements() []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(m.SQL, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Migrate creates or upgrades the leaf tables in db's current database. It
// is idempotent and safe to run from several processes at once (they
// serialise on a named lock).
func Migrate(ctx context.Context, db *sql.DB) (err error) {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("leaf: migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT(DATABASE(), '.leaf_migrate'), 30)").Scan(&got); err != nil {
		return fmt.Errorf("leaf: migrate: lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("leaf: migrate: another migration holds the lock for more than 30s")
	}
	defer func() {
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(CONCAT(DATABASE(), '.leaf_migrate'))")
		if err == nil && rerr != nil {
			err = fmt.Errorf("leaf: migrate: release lock: %w", rerr)
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS leaf_schema_migrations (
  version    INT          NOT NULL,
  name       VARCHAR(128) NOT NULL,
  applied_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (version)
) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("leaf: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM leaf_schema_migrations")
	if err != nil {
		return fmt.Errorf("leaf: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("leaf: migrate: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("leaf: migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for _, stmt := range m.Statements() {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("leaf: migrate %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO leaf_schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
			return fmt.Errorf("leaf: migrate %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// AddTag inserts biz_tag tag with the given step. The first ID it hands out
// is start (Leaf's tables start at 1). It fails if the tag exists.
func AddTag(ctx context.Context, db *sql.DB, tag string, step int64, start int64, description string) error {
	if err := validTag(tag); err != nil {
		return err
	}
	if step < 1 || step > maxTableStep {
		return fmt.Errorf("leaf: step %d out of range [1, %d]", step, maxTableStep)
	}
	if start < 0 {
		return fmt.Errorf("leaf: start %d must not be negative", start)
	}
	_, err := db.ExecContext(ctx, "INSERT INTO leaf_alloc (biz_tag, max_id, step, description) VALUES (?, ?, ?, ?)",
		tag, start, step, description)
	if err != nil {
		return fmt.Errorf("leaf: add tag %q: %w", tag, err)
	}
	return nil
}

// maxTableStep is the largest step the INT column holds.
const maxTableStep = 1<<31 - 1

func validTag(tag string) error {
	if tag == "" || len(tag) > 128 {
		return fmt.Errorf("leaf: tag %q: length must be 1..128 bytes", tag)
	}
	return nil
}
