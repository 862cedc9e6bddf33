package gen

import (
	"math"
	"strconv"
	"strings"
)

// The schema the workload runs against: an online shop with accounts,
// billing and a job queue. Column value classes follow from the names.
var tableDefs = []struct {
	name string
	cols string
}{
	{"users", "id email name status created_at updated_at last_login_at country plan tenant_id"},
	{"orders", "id user_id status total_cents currency created_at updated_at address_id coupon_id tenant_id"},
	{"order_items", "id order_id product_id sku qty price_cents created_at"},
	{"products", "id sku title category_id price_cents stock status created_at updated_at brand"},
	{"categories", "id parent_id name slug position"},
	{"inventory", "id product_id warehouse_id qty reserved updated_at"},
	{"payments", "id order_id user_id amount_cents provider status created_at external_ref"},
	{"shipments", "id order_id carrier tracking_no status shipped_at delivered_at"},
	{"carts", "id user_id session_id updated_at item_count"},
	{"cart_items", "id cart_id product_id qty added_at"},
	{"sessions", "id user_id token expires_at ip user_agent created_at"},
	{"addresses", "id user_id line1 city zip country is_default"},
	{"coupons", "id code discount_pct valid_from valid_to max_uses used"},
	{"reviews", "id product_id user_id rating body created_at status"},
	{"audit_log", "id actor_id action entity entity_id payload created_at"},
	{"notifications", "id user_id kind payload read_at created_at"},
	{"messages", "id thread_id sender_id body created_at"},
	{"accounts", "id tenant_id balance_cents currency updated_at status"},
	{"ledger_entries", "id account_id amount_cents kind ref created_at"},
	{"devices", "id user_id platform push_token last_seen_at"},
	{"feature_flags", "id name enabled rollout_pct updated_at"},
	{"jobs", "id queue status attempts run_at locked_by locked_at payload"},
	{"invoices", "id account_id number amount_cents status due_at paid_at"},
	{"subscriptions", "id user_id plan status started_at renews_at canceled_at"},
	{"warehouses", "id name region capacity"},
	{"wishlists", "id user_id product_id created_at"},
	{"price_history", "id product_id price_cents changed_at"},
	{"search_queries", "id user_id query results created_at"},
	{"attachments", "id owner_id kind data created_at"},
}

// enumWords are the value sets of enum-like columns, indexed by lWord's lo.
var enumWords = [][]string{
	{"active", "pending", "paid", "shipped", "cancelled", "refunded", "failed", "deleted", "on_hold"}, // 0 status
	{"USD", "EUR", "GBP", "JPY", "CNY", "BRL"},                                                        // 1 currency
	{"stripe", "adyen", "paypal", "alipay", "bank_transfer"},                                          // 2 provider
	{"ups", "dhl", "fedex", "usps", "sf-express"},                                                     // 3 carrier
	{"free", "pro", "team", "enterprise"},                                                             // 4 plan
	{"ios", "android", "web"},                                                                         // 5 platform
	{"US", "DE", "FR", "JP", "CN", "BR", "IN", "GB"},                                                  // 6 country
	{"us-east", "eu-west", "ap-south", "ap-northeast"},                                                // 7 region
	{"email", "push", "sms", "credit", "debit", "refund", "fee"},                                      // 8 kind
	{"login", "logout", "update", "delete", "export", "grant"},                                        // 9 action
	{"default", "mailers", "billing", "exports", "low"},                                               // 10 queue
	{"order", "user", "product", "invoice"},                                                           // 11 entity
}

type column struct {
	name string
	val  seg // the literal this column takes
}

type table struct {
	name   string
	alias  string
	cols   []column
	fks    []string // names of parent tables referenced by <parent>_id columns
	parent map[string]string
}

func colValue(name string) seg {
	switch {
	case name == "id" || strings.HasSuffix(name, "_id") || name == "locked_by":
		return seg{lit: lID, hi: 50_000_000}
	case strings.HasSuffix(name, "_at") || name == "valid_from" || name == "valid_to":
		return seg{lit: lDate}
	case strings.HasSuffix(name, "_cents"):
		return seg{lit: lMoney}
	case name == "status":
		return seg{lit: lWord, lo: 0}
	case name == "currency":
		return seg{lit: lWord, lo: 1}
	case name == "provider":
		return seg{lit: lWord, lo: 2}
	case name == "carrier":
		return seg{lit: lWord, lo: 3}
	case name == "plan":
		return seg{lit: lWord, lo: 4}
	case name == "platform":
		return seg{lit: lWord, lo: 5}
	case name == "country":
		return seg{lit: lWord, lo: 6}
	case name == "region":
		return seg{lit: lWord, lo: 7}
	case name == "kind":
		return seg{lit: lWord, lo: 8}
	case name == "action":
		return seg{lit: lWord, lo: 9}
	case name == "queue":
		return seg{lit: lWord, lo: 10}
	case name == "entity":
		return seg{lit: lWord, lo: 11}
	case name == "email":
		return seg{lit: lEmail}
	case name == "name" || name == "title" || name == "brand" || name == "city" || name == "line1":
		return seg{lit: lName}
	case name == "body" || name == "payload" || name == "user_agent" || name == "query":
		return seg{lit: lText, lo: 60}
	case name == "token" || name == "push_token" || name == "external_ref" || name == "slug":
		return seg{lit: lToken}
	case name == "sku" || name == "code" || name == "tracking_no" || name == "number" || name == "ref" || name == "zip":
		return seg{lit: lCode}
	case name == "ip":
		return seg{lit: lIP}
	case name == "data":
		return seg{lit: lBinary}
	case name == "is_default" || name == "enabled" || name == "used":
		return seg{lit: lInt, lo: 0, hi: 1}
	case name == "rating":
		return seg{lit: lInt, lo: 1, hi: 5}
	case strings.HasSuffix(name, "_pct"):
		return seg{lit: lInt, lo: 0, hi: 100}
	case name == "price" || name == "amount":
		return seg{lit: lDecimal, lo: 1, hi: 999}
	default: // qty, stock, attempts, position, counts
		return seg{lit: lInt, lo: 0, hi: 500}
	}
}

func buildTables() []*table {
	byName := map[string]*table{}
	var ts []*table
	for _, d := range tableDefs {
		t := &table{name: d.name, parent: map[string]string{}}
		for _, c := range strings.Fields(d.cols) {
			t.cols = append(t.cols, column{name: c, val: colValue(c)})
		}
		parts := strings.Split(d.name, "_")
		for _, p := range parts {
			t.alias += p[:1]
		}
		byName[d.name] = t
		ts = append(ts, t)
	}
	for _, t := range ts {
		for _, c := range t.cols {
			p, ok := strings.CutSuffix(c.name, "_id")
			if !ok {
				continue
			}
			for _, cand := range []string{p + "s", p + "es", strings.TrimSuffix(p, "y") + "ies"} {
				if _, ok := byName[cand]; ok && cand != t.name {
					t.fks = append(t.fks, cand)
					t.parent[cand] = c.name
				}
			}
		}
	}
	return ts
}

// kind is a statement shape.
type kind uint8

const (
	kPoint kind = iota
	kSecondary
	kRange
	kJoin
	kAggregate
	kCount
	kInList
	kSubquery
	kForUpdate
	kInsert
	kMultiInsert
	kUpsert
	kUpdate
	kCounterUpdate
	kDelete
	kBinaryInsert
	kShow
	kSet
	kBegin
	kCommit
	kRollback
	kInvalid
	kLong
	numKinds
)

var kindNames = [numKinds]string{"point_select", "secondary_select", "range_select", "join", "aggregate",
	"count", "in_list_select", "subquery", "select_for_update", "insert", "multi_row_insert", "upsert",
	"update", "counter_update", "delete", "binary_insert", "show", "set", "begin", "commit", "rollback",
	"invalid", "very_long"}

func (k kind) String() string { return kindNames[k] }

func (k kind) isSelect() bool {
	switch k {
	case kPoint, kSecondary, kRange, kJoin, kAggregate, kCount, kInList, kSubquery, kForUpdate:
		return true
	}
	return false
}

// kindWeights is how often each kind is drawn for a template rank that is
// not reserved: BEGIN, COMMIT, ROLLBACK and the very long statements have
// reserved ranks (see assignKinds), so that a very long statement is never
// among the most popular.
var kindWeights = [numKinds]float64{
	kPoint: 20, kSecondary: 12, kRange: 7, kJoin: 9, kAggregate: 4, kCount: 4, kInList: 7, kSubquery: 2,
	kForUpdate: 3, kInsert: 6, kMultiInsert: 4, kUpsert: 3, kUpdate: 9, kCounterUpdate: 3, kDelete: 3,
	kBinaryInsert: 0.7, kShow: 1.5, kSet: 1.5, kInvalid: 1,
}

// profile is a kind's performance: median latency (µs), whether it locks
// rows, and its errors.
type profile struct {
	latencyUs float64
	lockUs    float64
	user      []string
	errs      []errSpec
}

type errSpec struct {
	code    int32
	p       float64 // per execution
	latency float64 // latency multiplier (0: fixed 50 s lock wait timeout)
}

var (
	errDup      = errSpec{code: 1062, p: 0.004, latency: 1}
	errDeadlock = errSpec{code: 1213, p: 0.0008, latency: 8}
	errLockWait = errSpec{code: 1205, p: 0.001, latency: 0}
	errTimeout  = errSpec{code: 3024, p: 0.0002, latency: 30}
	errSyntax   = errSpec{code: 1064, p: 1, latency: 0.3}
)

var profiles = [numKinds]profile{
	kPoint:         {latencyUs: 180, user: []string{"app_ro", "app_rw"}},
	kSecondary:     {latencyUs: 700, user: []string{"app_ro", "app_rw"}, errs: []errSpec{errTimeout}},
	kRange:         {latencyUs: 2600, user: []string{"app_ro", "report"}, errs: []errSpec{errTimeout}},
	kJoin:          {latencyUs: 3200, user: []string{"app_ro", "app_rw", "report"}, errs: []errSpec{errTimeout}},
	kAggregate:     {latencyUs: 18000, user: []string{"report", "batch"}, errs: []errSpec{errTimeout}},
	kCount:         {latencyUs: 1500, user: []string{"app_ro", "report"}},
	kInList:        {latencyUs: 900, user: []string{"app_ro", "app_rw"}},
	kSubquery:      {latencyUs: 6000, user: []string{"report"}, errs: []errSpec{errTimeout}},
	kForUpdate:     {latencyUs: 600, lockUs: 150, user: []string{"app_rw"}, errs: []errSpec{errDeadlock, errLockWait}},
	kInsert:        {latencyUs: 550, lockUs: 25, user: []string{"app_rw"}, errs: []errSpec{errDup}},
	kMultiInsert:   {latencyUs: 2200, lockUs: 40, user: []string{"app_rw", "batch"}, errs: []errSpec{errDup, errDeadlock}},
	kUpsert:        {latencyUs: 750, lockUs: 40, user: []string{"app_rw"}, errs: []errSpec{errDeadlock}},
	kUpdate:        {latencyUs: 800, lockUs: 60, user: []string{"app_rw", "batch"}, errs: []errSpec{errDeadlock, errLockWait}},
	kCounterUpdate: {latencyUs: 650, lockUs: 90, user: []string{"app_rw"}, errs: []errSpec{errDeadlock, errLockWait}},
	kDelete:        {latencyUs: 950, lockUs: 60, user: []string{"app_rw", "batch"}, errs: []errSpec{errDeadlock, errLockWait}},
	kBinaryInsert:  {latencyUs: 900, lockUs: 30, user: []string{"app_rw"}},
	kShow:          {latencyUs: 350, user: []string{"monitor", "admin"}},
	kSet:           {latencyUs: 35, user: []string{"app_rw", "app_ro"}},
	kBegin:         {latencyUs: 20, user: []string{"app_rw"}},
	kCommit:        {latencyUs: 1400, user: []string{"app_rw"}},
	kRollback:      {latencyUs: 250, user: []string{"app_rw"}},
	kInvalid:       {latencyUs: 80, user: []string{"admin", "app_rw"}, errs: []errSpec{errSyntax}},
	kLong:          {latencyUs: 45000, lockUs: 200, user: []string{"batch"}, errs: []errSpec{errTimeout}},
}

// template is one statement shape with its performance.
type template struct {
	index     int
	kind      kind
	segs      []seg
	shape     string
	user      string
	latMedian float64 // µs
	latSigma  float64
	lockMed   float64 // µs, 0 = no row locks
	errs      []errSpec
	limit     int64 // LIMIT of the statement, or 0
}

// tbuilder builds one template from its own random source, so that a
// template depends only on (seed, index, attempt, stretch).
type tbuilder struct {
	r       *rng
	tables  []*table
	stretch float64 // scales select-list lengths
	b       builder
	style   int // 0 plain, 1 qualified, 2 backquoted, 3 ORM (lower case, aliases)
	limit   int64
}

func (tb *tbuilder) kw(s string) string {
	if tb.style == 3 {
		return strings.ToLower(s)
	}
	return s
}

func (tb *tbuilder) ident(t *table, col string) string {
	switch tb.style {
	case 1:
		return t.alias + "." + col
	case 2:
		return "`" + col + "`"
	case 3:
		return t.alias + "0_." + col
	}
	return col
}

func (tb *tbuilder) from(t *table) string {
	switch tb.style {
	case 1:
		return t.name + " " + t.alias
	case 2:
		return "`" + t.name + "`"
	case 3:
		return t.name + " " + t.alias + "0_"
	}
	return t.name
}

// selectList writes about k0*stretch columns of t (at least one).
func (tb *tbuilder) selectList(t *table, k0 int) {
	perm := permute(tb.r, len(t.cols))
	k := min(len(t.cols), max(1, int(math.Round(float64(k0)*tb.stretch))))
	for i := range k {
		if i > 0 {
			tb.b.text(", ")
		}
		c := t.cols[perm[i]].name
		tb.b.text(tb.ident(t, c))
		if tb.style == 3 {
			tb.b.text(" as " + c + strconv.Itoa(perm[i]+1) + "_0_")
		}
	}
}

func permute(r *rng, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// cond writes "col = ?" for a column of t other than skip, and returns it.
func (tb *tbuilder) cond(t *table, skip map[string]bool) string {
	for range 20 {
		c := pick(tb.r, t.cols)
		if skip[c.name] || c.val.lit == lText || c.val.lit == lBinary {
			continue
		}
		skip[c.name] = true
		op := " = "
		v := c.val
		switch {
		case c.val.lit == lDate:
			op = pick(tb.r, []string{" >= ", " < ", " > "})
		case c.val.lit == lInt && tb.r.chance(0.3):
			op = " > "
		case c.val.lit == lWord && tb.r.chance(0.2):
			op = " <> "
		}
		if tb.style == 3 {
			op = strings.TrimSpace(op)
		}
		tb.b.text(tb.ident(t, c.name), op)
		if c.val.lit == lID && tb.r.chance(0.15) {
			v.quoted = true
		}
		tb.b.lit(v)
		return c.name
	}
	tb.b.text(tb.ident(t, "id"), " = ")
	tb.b.lit(t.cols[0].val)
	return "id"
}

func (tb *tbuilder) where(t *table, n int, skip map[string]bool) {
	tb.b.text(" ", tb.kw("WHERE"), " ")
	for i := range n {
		if i > 0 {
			tb.b.text(" ", tb.kw("AND"), " ")
		}
		tb.cond(t, skip)
	}
}

func (tb *tbuilder) orderLimit(t *table) {
	if tb.r.chance(0.7) {
		c := pick(tb.r, t.cols).name
		tb.b.text(" ", tb.kw("ORDER BY"), " ", tb.ident(t, c))
		if tb.r.chance(0.6) {
			tb.b.text(" ", tb.kw("DESC"))
		}
	}
	if tb.r.chance(0.8) {
		tb.limit = pick(tb.r, []int64{1, 10, 20, 25, 50, 100, 500})
		tb.b.text(" ", tb.kw("LIMIT"), " ")
		tb.b.lit(seg{lit: lInt, lo: tb.limit, hi: tb.limit})
		if tb.r.chance(0.2) {
			tb.b.text(" ", tb.kw("OFFSET"), " ")
			tb.b.lit(seg{lit: lInt, lo: 0, hi: 2000})
		}
	}
}

func (tb *tbuilder) selectHead() {
	tb.b.text(tb.kw("SELECT "))
	if tb.r.chance(0.04) {
		tb.b.meta("/*+ MAX_EXECUTION_TIME(" + strconv.Itoa(1000*(1+tb.r.intn(10))) + ") */ ")
	}
}

// build writes the statement of kind k.
func (tb *tbuilder) build(k kind) {
	r := tb.r
	t := pick(r, tb.tables)
	b := &tb.b
	if r.chance(0.08) && k != kInvalid {
		b.meta(pick(r, []string{
			"/* app=checkout-svc route=" + t.name + " */ ",
			"/* controller:" + t.name + ",action:index */ ",
			"/* trace: batch-worker-" + strconv.Itoa(r.intn(50)) + " */ ",
			"-- " + t.name + " repository\n",
		}))
	}
	skip := map[string]bool{}
	switch k {
	case kPoint, kForUpdate:
		tb.selectHead()
		if r.chance(0.2) {
			b.text("*")
		} else {
			tb.selectList(t, 2+r.intn(7))
		}
		b.text(" ", tb.kw("FROM"), " ", tb.from(t), " ", tb.kw("WHERE"), " ", tb.ident(t, "id"), " = ")
		b.lit(t.cols[0].val)
		skip["id"] = true
		if r.chance(0.3) {
			b.text(" ", tb.kw("AND"), " ")
			tb.cond(t, skip)
		}
		if k == kForUpdate {
			b.text(" ", tb.kw("FOR UPDATE"))
		} else if r.chance(0.3) {
			tb.limit = 1
			b.text(" ", tb.kw("LIMIT 1"))
		}
	case kSecondary, kRange:
		tb.selectHead()
		tb.selectList(t, 2+r.intn(8))
		b.text(" ", tb.kw("FROM"), " ", tb.from(t))
		if k == kRange {
			var dc string
			for _, c := range t.cols {
				if c.val.lit == lDate {
					dc = c.name
					break
				}
			}
			if dc == "" {
				dc = "id"
			}
			skip[dc] = true
			b.text(" ", tb.kw("WHERE"), " ", tb.ident(t, dc), " ", tb.kw("BETWEEN"), " ")
			v := colValue(dc)
			v2 := v
			v2.after = true
			if v2.lit == lID {
				v2.quoted = v.quoted
			}
			b.lit(v).text(" ", tb.kw("AND"), " ").lit(v2)
			if r.chance(0.6) {
				b.text(" ", tb.kw("AND"), " ")
				tb.cond(t, skip)
			}
		} else {
			tb.where(t, 1+r.intn(3), skip)
		}
		tb.orderLimit(t)
	case kJoin:
		if len(t.fks) == 0 {
			t = tb.tables[1] // orders → users
		}
		p := tb.tables[0]
		fk := pick(r, t.fks)
		for _, x := range tb.tables {
			if x.name == fk {
				p = x
			}
		}
		tb.style = 1
		tb.selectHead()
		tb.selectList(t, 1+r.intn(5))
		b.text(", ")
		tb.selectList(p, 1+r.intn(4))
		join := pick(r, []string{"JOIN", "INNER JOIN", "LEFT JOIN"})
		b.text(" FROM ", tb.from(t), " ", join, " ", tb.from(p), " ON ", p.alias, ".id = ", t.alias, ".", t.parent[fk])
		b.text(" WHERE ")
		tb.cond(p, map[string]bool{})
		if r.chance(0.5) {
			b.text(" AND ")
			tb.cond(t, skip)
		}
		tb.orderLimit(t)
	case kAggregate:
		g := pick(r, t.cols)
		for _, c := range t.cols {
			if c.val.lit == lWord {
				g = c
			}
		}
		tb.selectHead()
		b.text(tb.ident(t, g.name), ", ", tb.kw("COUNT(*)"))
		num := ""
		for _, c := range t.cols {
			if c.val.lit == lMoney || (c.val.lit == lInt && c.name != "id") {
				num = c.name
			}
		}
		if num != "" {
			b.text(", ", tb.kw(pick(r, []string{"SUM", "AVG", "MAX"})), "(", tb.ident(t, num), ")")
		}
		b.text(" ", tb.kw("FROM"), " ", tb.from(t))
		skip[g.name] = true
		tb.where(t, 1+r.intn(2), skip)
		b.text(" ", tb.kw("GROUP BY"), " ", tb.ident(t, g.name))
		if r.chance(0.3) {
			b.text(" ", tb.kw("HAVING COUNT(*) >"), " ").lit(seg{lit: lInt, lo: 1, hi: 100})
		}
	case kCount:
		tb.selectHead()
		b.text(tb.kw("COUNT(*)"), " ", tb.kw("FROM"), " ", tb.from(t))
		tb.where(t, 1+r.intn(3), skip)
	case kInList, kLong:
		tb.selectHead()
		tb.selectList(t, 2+r.intn(6))
		col := "id"
		if r.chance(0.4) && len(t.fks) > 0 {
			col = t.parent[pick(r, t.fks)]
		}
		skip[col] = true
		b.text(" ", tb.kw("FROM"), " ", tb.from(t), " ", tb.kw("WHERE"), " ", tb.ident(t, col), " ", tb.kw("IN"), " ")
		if k == kLong {
			b.list(seg{lit: lID, hi: 50_000_000}, float64(1000+r.intn(3000)), true)
		} else {
			b.list(seg{lit: lID, hi: 50_000_000}, float64(2+r.intn(20)), false)
		}
		if r.chance(0.4) {
			b.text(" ", tb.kw("AND"), " ")
			tb.cond(t, skip)
		}
	case kSubquery:
		if len(t.fks) == 0 {
			t = tb.tables[1]
		}
		fk := pick(r, t.fks)
		var p *table
		for _, x := range tb.tables {
			if x.name == fk {
				p = x
			}
		}
		tb.style = 0
		tb.selectHead()
		tb.selectList(t, 2+r.intn(5))
		b.text(" FROM ", t.name, " WHERE ", t.parent[fk], " IN (SELECT id FROM ", p.name, " WHERE ")
		tb.cond(p, map[string]bool{"id": true})
		b.text(")")
		tb.orderLimit(t)
	case kInsert, kMultiInsert, kUpsert, kBinaryInsert:
		if k == kBinaryInsert {
			t = tb.tables[len(tb.tables)-1] // attachments
		}
		perm := permute(r, len(t.cols)-1)
		n := len(t.cols) - 1
		if k != kBinaryInsert {
			n = min(n, max(2, int(math.Round(float64(2+r.intn(6))*tb.stretch))))
		}
		var cols []column
		for _, i := range perm[:n] {
			cols = append(cols, t.cols[i+1])
		}
		if r.chance(0.3) {
			cols = append([]column{t.cols[0]}, cols...)
		}
		verb := "INSERT INTO "
		if k != kUpsert && r.chance(0.1) {
			verb = pick(r, []string{"INSERT IGNORE INTO ", "REPLACE INTO "})
		}
		b.text(tb.kw(verb), tb.identNoAlias(t.name), " (")
		for i, c := range cols {
			if i > 0 {
				b.text(", ")
			}
			b.text(tb.identNoAlias(c.name))
		}
		b.text(") ", tb.kw("VALUES"), " ")
		var row builder
		for i, c := range cols {
			if i > 0 {
				row.text(", ")
			}
			row.lit(c.val)
		}
		if k == kMultiInsert {
			b.rows(row.segs, float64(2+r.intn(30)), false)
		} else {
			b.rows(row.segs, 1, true)
		}
		if k == kUpsert {
			c := cols[len(cols)-1].name
			b.text(" ", tb.kw("ON DUPLICATE KEY UPDATE"), " ", tb.identNoAlias(c), " = ", tb.kw("VALUES"), "(", tb.identNoAlias(c), ")")
		}
	case kUpdate, kCounterUpdate:
		b.text(tb.kw("UPDATE "), tb.from(t), " ", tb.kw("SET"), " ")
		counter := ""
		if k == kCounterUpdate {
			for _, x := range t.cols {
				if (x.val.lit == lInt && x.val.hi > 1 && x.name != "rating") || x.val.lit == lMoney {
					counter = x.name
				}
			}
		}
		if counter != "" {
			b.text(tb.ident(t, counter), " = ", tb.ident(t, counter), pick(r, []string{" + ", " - "}))
			b.lit(seg{lit: lInt, lo: 1, hi: 5})
			skip[counter] = true
		} else {
			n := max(1, int(math.Round(float64(1+r.intn(4))*tb.stretch)))
			for i := range min(n, len(t.cols)-1) {
				c := t.cols[1+(i+r.intn(len(t.cols)-1))%(len(t.cols)-1)]
				if skip[c.name] {
					continue
				}
				skip[c.name] = true
				if len(skip) > 1 {
					b.text(", ")
				}
				b.text(tb.ident(t, c.name), " = ")
				b.lit(c.val)
			}
		}
		b.text(" ", tb.kw("WHERE"), " ", tb.ident(t, "id"), " = ")
		b.lit(t.cols[0].val)
		skip["id"] = true
		if r.chance(0.3) {
			b.text(" ", tb.kw("AND"), " ")
			tb.cond(t, skip)
		}
	case kDelete:
		b.text(tb.kw("DELETE FROM "), tb.from(t))
		if r.chance(0.5) {
			b.text(" ", tb.kw("WHERE"), " ", tb.ident(t, "id"), " = ")
			b.lit(t.cols[0].val)
		} else {
			tb.where(t, 1+r.intn(2), skip)
			tb.limit = pick(r, []int64{100, 500, 1000, 5000})
			b.text(" ", tb.kw("LIMIT"), " ").lit(seg{lit: lInt, lo: tb.limit, hi: tb.limit})
		}
	case kShow:
		switch r.intn(6) {
		case 0:
			b.text("SHOW ", pick(r, []string{"", "GLOBAL ", "SESSION "}), "VARIABLES LIKE ")
			b.lit(seg{lit: lWord, lo: 0})
		case 1:
			b.text("SHOW ", pick(r, []string{"", "GLOBAL "}), "STATUS LIKE ")
			b.lit(seg{lit: lWord, lo: 9})
		case 2:
			b.text(pick(r, []string{"SHOW FULL PROCESSLIST", "SHOW ENGINE INNODB STATUS", "SHOW SLAVE STATUS",
				"SHOW MASTER STATUS", "SHOW DATABASES", "SHOW BINARY LOGS", "SHOW WARNINGS"}))
		case 3:
			b.text("SHOW CREATE TABLE `", t.name, "`")
		case 4:
			b.text("SHOW INDEX FROM `", t.name, "`")
		default:
			b.text("SHOW TABLE STATUS LIKE ")
			b.lit(seg{lit: lCode})
		}
	case kSet:
		switch r.intn(5) {
		case 0:
			b.text("SET ", pick(r, []string{"autocommit", "sql_safe_updates", "foreign_key_checks", "unique_checks"}), " = ")
			b.lit(seg{lit: lInt, lo: 0, hi: 1})
		case 1:
			b.text("SET NAMES ", pick(r, []string{"utf8mb4", "utf8", "latin1", "binary"}))
		case 2:
			b.text("SET SESSION ", pick(r, []string{"transaction_isolation", "sql_mode", "time_zone", "wait_timeout",
				"max_execution_time", "innodb_lock_wait_timeout", "group_concat_max_len"}), " = ")
			b.lit(seg{lit: lWord, lo: 7})
		case 3:
			b.text("SET @", pick(r, []string{"request_id", "tenant", "actor", "trace"}), " = ")
			b.lit(seg{lit: lToken})
		default:
			b.text("SET TRANSACTION ISOLATION LEVEL ", pick(r, []string{"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", "READ UNCOMMITTED"}))
		}
	case kBegin:
		b.text(pick(r, []string{"BEGIN", "START TRANSACTION"}))
	case kCommit:
		b.text("COMMIT")
	case kRollback:
		b.text("ROLLBACK")
	case kInvalid:
		switch r.intn(5) {
		case 0:
			b.text("SELEC ")
			tb.selectList(t, 2)
			b.text(" FORM ", t.name, " WHERE id = ")
			b.lit(t.cols[0].val)
		case 1:
			b.text("SELECT * FROM ", t.name, " WHERE")
		case 2:
			b.text("UPDATE ", t.name, " SET WHERE id = ")
			b.lit(t.cols[0].val)
		case 3:
			b.text("INSERT INTO ", t.name, " VALUES (")
			b.lit(t.cols[0].val).text(", ")
			b.lit(t.cols[1].val)
		default:
			b.text("DELETE ", t.name, " WHERE ", t.cols[1].name, " == ")
			b.lit(t.cols[1].val)
		}
	}
}

func (tb *tbuilder) identNoAlias(col string) string {
	if tb.style == 2 {
		return "`" + col + "`"
	}
	return col
}
