package fingerprint

import (
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
)

// TestCompareTiDB pins where das and TiDB's parser.NormalizeDigest group
// statements differently: each pair is either one template or two, for
// each of them. docs/fingerprint.md lists these classes.
func TestCompareTiDB(t *testing.T) {
	f := New()
	for _, tc := range []struct {
		class    string
		a, b     string
		das, tdb bool // true: the pair shares a template
	}{
		{"literal values", "select c from t where id = 1", "select c from t where id = 'x'", true, true},
		{"keyword case, whitespace, comments", "SELECT c FROM t WHERE id=1", "select  c /* x */ from t where id = 2", true, true},
		{"backquoted names", "select `c` from `t`", "select c from t", true, true},
		{"IN list length", "select c from t where id in (1)", "select c from t where id in (1, 2, 3)", true, false},
		{"IN list of two or more", "select c from t where id in (1, 2)", "select c from t where id in (1, 2, 3)", true, true},
		{"VALUES row count", "insert into t values (1, 2)", "insert into t values (1, 2), (3, 4)", true, true},
		{"NULL as a value", "update t set a = null", "update t set a = 1", true, true},
		{"IS NULL vs IS TRUE", "select c from t where a is null", "select c from t where a is true", false, false},
		{"booleans", "update t set a = true", "update t set a = 1", true, false},
		{"ORDER BY position", "select a, b from t order by 1", "select a, b from t order by 2", true, false},
		{"unary minus", "select c from t where a = -1", "select c from t where a = 1", true, true},
		{"optimizer hints", "select /*+ MAX_EXECUTION_TIME(1) */ c from t", "select c from t", true, true},
		{"executable comments", "select /*!40001 SQL_NO_CACHE */ c from t", "select c from t", false, false},
		{"count(*) vs count(1)", "select count(*) from t", "select count(1) from t", false, true},
		{"force index", "select c from t force index (k) where a = 1", "select c from t where a = 1", false, true},
		{"straight_join", "select c from a straight_join b", "select c from a join b", false, true},
		{"trailing semicolon", "select 1;", "select 1", true, true},
		{"charset introducer", "select _utf8mb4'x'", "select 'x'", true, false},
	} {
		ida, _ := f.Fingerprint([]byte(tc.a))
		idb, db := f.Fingerprint([]byte(tc.b))
		na, ta := parser.NormalizeDigest(tc.a)
		nb, tb := parser.NormalizeDigest(tc.b)
		dasSame, tidbSame := ida == idb, ta.String() == tb.String()
		if dasSame != tc.das || tidbSame != tc.tdb {
			t.Errorf("%s: das same=%v (want %v), tidb same=%v (want %v)\n  das  %q\n  tidb %q | %q",
				tc.class, dasSame, tc.das, tidbSame, tc.tdb, db, na, nb)
		}
	}
}

// TestCompareTiDBWorkloads measures how the two group the benchmark
// workloads: a pair of statements grouped by one and not the other is a
// disagreement.
func TestCompareTiDBWorkloads(t *testing.T) {
	f := New()
	for _, w := range []struct {
		name  string
		stmts [][]byte
	}{{"sysbench", sysbenchStatements(5, 2000)}, {"long", longStatements(5, 2000)}} {
		das := map[ID]map[string]bool{}
		tidb := map[string]map[ID]bool{}
		for _, s := range w.stmts {
			id, _ := f.Fingerprint(s)
			_, d := parser.NormalizeDigest(string(s))
			if das[id] == nil {
				das[id] = map[string]bool{}
			}
			das[id][d.String()] = true
			if tidb[d.String()] == nil {
				tidb[d.String()] = map[ID]bool{}
			}
			tidb[d.String()][id] = true
		}
		split, merged := 0, 0
		for _, ds := range das {
			if len(ds) > 1 {
				merged++ // one das template, several TiDB digests
			}
		}
		for _, ids := range tidb {
			if len(ids) > 1 {
				split++
			}
		}
		t.Logf("%s: %d das templates, %d TiDB digests; das templates spanning several digests: %d; digests spanning several das templates: %d",
			w.name, len(das), len(tidb), merged, split)
		if split > 0 {
			t.Errorf("%s: das splits what TiDB groups", w.name)
		}
	}
}
